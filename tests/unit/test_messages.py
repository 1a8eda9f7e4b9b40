"""The framed messages' wire form (protocol/messages.py): typed in memory, plain tuples in a frame."""
import pickle
import pickletools

import pytest

from strato.runtime.protocol import messages as m


def sample():
    return [m.PushTask(b"t" * 24, 0, b"j", b"f" * 16, "f", b"args", None, 1, "127.0.0.1:1", None, 3, ""),
            m.ActorDone(b"t", 1, "ok", [(b"x", False)], 0.1, None), m.StoreListen(), m.Reply(7, ("ok", None))]


def test_encode_then_decode_gives_the_same_typed_messages():
    msgs = sample()
    back = m.decode(pickle.loads(pickle.dumps(m.encode(msgs), protocol=5)))
    assert back == msgs and [type(x) for x in back] == [type(x) for x in msgs]
    assert back[0].owner == "127.0.0.1:1" and back[1].status == "ok"


def test_a_frame_names_no_class():
    """Naming a class makes both ends look it up by module for every frame (about 50 us a round trip)."""
    ops = {op.name for op, _, _ in pickletools.genops(pickle.dumps(m.encode(sample()), protocol=5))}
    assert not ops & {"GLOBAL", "STACK_GLOBAL", "INST", "OBJ", "NEWOBJ", "NEWOBJ_EX", "REDUCE"}


def test_an_unknown_tag_or_a_wrong_field_count_is_refused():
    with pytest.raises(IndexError):
        m.decode([(10_000, ())])
    with pytest.raises(ValueError, match="GetObject takes 2 fields, got 3"):
        m.decode([(m._TAGS[m.GetObject], (1, b"o", "extra"))])


def test_every_message_class_has_a_tag_and_local_only_ones_have_none():
    assert m.PeerHello not in m._TAGS
    assert len(set(m._TAGS.values())) == len(m._TAGS) == len(m._CLASSES)
