"""strato.data's pure pieces, no cluster: blocks and batch formats, rebatching, split and
repartition plans, operator fusion, and the text progress bar."""
import io

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from strato.data import block as B
from strato.data import plan as P
from strato.data import transforms as T
from strato.data.alltoall import repartition_plan
from strato.data.iterator import rebatch
from strato.data.progress import TextProgress, text_bar
from strato.data.split import locality_order, split_rows


def test_batch_formats_round_trip_with_tensor_columns():
    images = np.arange(24, dtype=np.int16).reshape(4, 3, 2)
    t = B.table_from_columns({"img": images, "label": np.array([1, 0, 1, 1])})
    batch = B.to_batch(t, "numpy")
    np.testing.assert_array_equal(batch["img"], images)
    assert batch["img"].dtype == np.int16
    df = B.to_batch(t, "pandas")
    assert list(df.columns) == ["img", "label"]
    np.testing.assert_array_equal(df.img.iloc[2], images[2])
    back = B.from_batch(df)
    np.testing.assert_array_equal(B.to_batch(back, "numpy")["img"], images)
    assert B.to_batch(t, "pyarrow") is t
    rows = B.table_to_rows(t)
    assert rows[1]["label"] == 0 and rows[1]["img"].shape == (3, 2)
    np.testing.assert_array_equal(B.to_batch(B.table_from_rows(rows), "numpy")["img"], images)


def test_bad_batches_are_clear_errors():
    with pytest.raises(ValueError, match="same length"):
        B.table_from_columns({"a": [1, 2], "b": [1]})
    with pytest.raises(TypeError, match="must return a dict of column name"):
        B.from_batch([1, 2, 3])
    with pytest.raises(ValueError, match="batch_format must be one of"):
        B.check_batch_format("tf")
    with pytest.raises(TypeError, match="must return a dict for each row"):
        B.table_from_rows([{"a": 1}, 5])
    with pytest.raises(ValueError, match="same columns"):
        B.table_from_rows([{"a": 1}, {"b": 2}])


def test_from_items_uses_an_item_column_for_non_dicts():
    assert B.items_to_table([1, 2]).column_names == ["item"]
    assert B.items_to_table([{"x": 1}]).column_names == ["x"]


def test_pandas_with_an_index_loses_it_as_ray_does():
    df = pd.DataFrame({"a": [1, 2, 3]}, index=[10, 20, 30])
    assert B.pandas_to_table(df).column_names == ["a"]


def test_map_batches_transform_cuts_blocks_into_batches():
    seen = []
    t = pa.table({"x": np.arange(10)})
    fn = T.MapBatches(lambda b: (seen.append(len(b["x"])), {"y": b["x"] * 2})[1], 4, "numpy")
    out = fn(t)
    assert seen == [4, 4, 2]
    np.testing.assert_array_equal(out["y"].to_numpy(), np.arange(10) * 2)
    def halves(batch):
        n = len(batch["x"]) // 2
        yield {"y": batch["x"][:n]}
        yield {"y": batch["x"][n:]}
    np.testing.assert_array_equal(T.MapBatches(halves, None, "numpy")(t)["y"].to_numpy(), np.arange(10))
    with pytest.raises(TypeError, match="returned None"):
        T.MapBatches(lambda b: None, None, "numpy")(t)


def test_rebatch_gives_exact_batches_across_tables():
    tables = [pa.table({"a": np.arange(s, e)}) for s, e in ((0, 5), (5, 6), (6, 13))]
    out = list(rebatch(tables, 4))
    assert [t.num_rows for t in out] == [4, 4, 4, 1]
    assert np.concatenate([t["a"].to_numpy() for t in out]).tolist() == list(range(13))
    assert [t.num_rows for t in rebatch(tables, 4, drop_last=True)] == [4, 4, 4]
    assert [t.num_rows for t in rebatch(tables, None)] == [5, 1, 7]
    with pytest.raises(ValueError, match="batch_size"):
        list(rebatch(tables, 0))


def test_split_rows_matches_numpy_array_split_and_equal_drops_the_remainder():
    counts = [3, 4, 3]
    shards = split_rows(counts, 3, equal=False)
    sizes = [sum(length for _, _, length in s) for s in shards]
    assert sizes == [len(p) for p in np.array_split(np.arange(10), 3)]
    assert shards[0] == [(0, 0, 3), (1, 0, 1)]
    assert shards[1] == [(1, 1, 3)]
    equal = split_rows(counts, 3, equal=True)
    assert [sum(x[2] for x in s) for s in equal] == [3, 3, 3]


def test_locality_gives_each_shard_its_own_nodes_blocks_first():
    counts = [5, 5, 5, 5]
    nodes = ["A", "B", "A", "B"]
    shards = locality_order(counts, nodes, ["B", "A"], equal=False)
    assert shards == [[(1, 0, 5), (3, 0, 5)], [(0, 0, 5), (2, 0, 5)]]
    uneven = locality_order([9, 1], ["A", "A"], ["B", "A"], equal=True)
    assert [sum(x[2] for x in s) for s in uneven] == [5, 5]


def test_repartition_plan_keeps_order():
    plan = repartition_plan([2, 5, 1], 2)
    assert plan == [[(0, 0, 2), (1, 0, 2)], [(1, 2, 3), (2, 0, 1)]]


def test_maps_of_the_same_resources_fuse_with_the_read():
    src = P.Source("ReadRange", read_tasks=("t1", "t2"))
    a = P.MapOp("MapBatches(a)", "fa")
    b = P.MapOp("Map(b)", "fb")
    gpu = P.MapOp("MapBatches(g)", "fg", (("num_gpus", 1),))
    pool = P.MapOp("MapBatches(C)", "fc", (), P.ActorPoolSpec(object, (), {}, 1, 1))
    shuffle = P.AllToAllOp("RandomShuffle", None)
    segs = P.segments(src, (a, b, gpu, pool, b, shuffle, a))
    assert [[s.name for s in seg.stages] for seg in segs] == [
        ["ReadRange->MapBatches(a)->Map(b)", "MapBatches(g)", "MapBatches(C)", "Map(b)"],
        ["MapBatches(a)"]]
    assert segs[0].stages[0].transforms == ["fa", "fb"]
    assert isinstance(segs[0].stages[2], P.ActorStage)
    assert segs[1].head is shuffle


def test_text_progress_bar():
    assert text_bar("ReadRange->MapBatches(f)", 5, 10, 500, width=10) == \
        "ReadRange->MapBatches(f) [#####.....] 5/10 blocks, 500 rows"
    assert text_bar("Limit", 3, None, 9, width=4) == "Limit [....] 3/? blocks, 9 rows"


class _Tty(io.StringIO):
    def isatty(self):
        return True


class _Stat:
    def __init__(self, name, done, total, rows):
        self.name, self.done, self.total, self.rows = name, done, total, rows


def test_text_progress_redraws_one_line_on_a_terminal_and_nothing_elsewhere():
    tty = _Tty()
    bar = TextProgress(tty)
    stats = [_Stat("Read", 0, 4, 0), _Stat("Write", 0, 4, 0)]
    bar.start(stats)
    stats[0].done, stats[0].rows = 4, 40
    bar.update(stats[0])
    bar.finish(ok=True)
    out = tty.getvalue()
    assert out.startswith("\r") and out.endswith("\n") and out.count("\n") == 1
    assert "Read [##########] 4/4 blocks, 40 rows | Write [..........] 0/4" in out
    log = io.StringIO()
    quiet = TextProgress(log)
    quiet.start(stats)
    quiet.update(stats[0])
    quiet.finish(ok=True)
    assert log.getvalue() == ""


def test_strato_data_is_an_attribute_of_strato_as_ray_data_is_of_ray():
    import importlib

    import strato
    assert strato.data is importlib.import_module("strato.data")
    assert callable(strato.data.read_parquet)
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        strato.nope  # noqa: B018


def test_local_shuffle_keeps_every_row_and_mixes_them():
    from strato.data.iterator import _local_shuffle
    tables = [pa.table({"a": np.arange(s, s + 100)}) for s in range(0, 1000, 100)]
    out = list(_local_shuffle(iter(tables), 200, seed=1))
    values = np.concatenate([t["a"].to_numpy() for t in out])
    assert sorted(values.tolist()) == list(range(1000))
    assert values.tolist() != list(range(1000))
    again = np.concatenate([t["a"].to_numpy() for t in _local_shuffle(iter(tables), 200, seed=1)])
    np.testing.assert_array_equal(values, again)


def test_streamed_blocks_go_to_the_reader_on_their_node_held_at_most_hold_at_a_time():
    from strato.data.split import LocalityHandout
    h = LocalityHandout(["A", "B"], hold=2)
    both = {0, 1}
    assert h.offer(0, "a1", "A", both) == "a1"                   # its own node: at once
    assert h.offer(0, "b1", "B", both) is None                   # B's: held for reader 1
    assert h.offer(0, "x1", None, both) == "x1"                  # made nowhere known: to whoever asks
    assert h.take_for(0) is None and h.take_for(1) == "b1" and h.take_for(1) is None
    assert h.offer(0, "b2", "B", both) is None and h.offer(0, "b3", "B", both) is None
    assert h.offer(0, "b4", "B", both) == "b4"                   # two held already: given away
    assert h.offer(0, "b5", "B", {0}) == "b5"                    # reader 1 has finished: not held
    assert h.offer(0, "c1", "C", both) == "c1"                   # a node no reader is on
    assert h.take_any() == "b2" and h.take_any() == "b3" and h.take_any() is None   # oldest first
    plain = LocalityHandout([None, None], hold=4)                # no hints: every block to the asker
    assert plain.offer(1, "a", "A", both) == "a" and plain.take_for(0) is None


def test_locality_hints_as_node_ids_are_taken_as_given():
    from strato.data.split import hint_nodes
    assert hint_nodes(["n1", "n2"]) == ["n1", "n2"]
