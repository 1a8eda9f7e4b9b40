"""Invariant checks survive `python -O`: they raise InvariantError, never a bare `assert`."""
import subprocess
import sys
import textwrap

from strato.exceptions import InvalidTransition, InvariantError, StratoError

BROKEN_UNDER_O = textwrap.dedent("""
    import sys
    from strato.exceptions import InvariantError
    from strato.runtime.core_worker import task_state
    from strato.runtime.core_worker.reference_table import ReferenceTable
    from strato.runtime.gcs import actor_state
    from strato.runtime.object_store.server import accounting
    from strato.runtime.object_store.server.allocator import Allocator

    assert False, "this script must run under python -O"   # stripped by -O: the checks below must not be

    task_state.TRANSITIONS[task_state.TaskState.FINISHED] = frozenset({task_state.TaskState.FAILED})
    actor_state.TRANSITIONS[actor_state.ActorState.DEAD] = frozenset({actor_state.ActorState.ALIVE})
    accounting.TRANSITIONS[accounting.ObjectState.FREED] = frozenset({accounting.ObjectState.PINNED})
    alloc = Allocator(1 << 20)
    alloc.used = 1
    table = ReferenceTable("127.0.0.1:1")
    table.add_owned(b"x")                       # owned, no local ref: removing one goes negative

    caught = []
    for name, check in [("task_state.validate", task_state.validate),
                        ("actor_state.validate", actor_state.validate),
                        ("accounting.validate_table", accounting.validate_table),
                        ("Allocator.validate", alloc.validate),
                        ("ReferenceTable.remove_local", lambda: table.remove_local(b"x"))]:
        try:
            check()
        except InvariantError:
            caught.append(name)
    print(",".join(caught))
""")


def test_invalid_transition_is_an_invariant_error_in_the_rooted_hierarchy():
    assert issubclass(InvalidTransition, InvariantError) and issubclass(InvariantError, StratoError)
    assert "bug in Strato" in str(InvariantError("counts went negative"))


def test_every_check_still_raises_under_python_minus_O():
    proc = subprocess.run([sys.executable, "-O", "-c", BROKEN_UNDER_O], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["task_state.validate,actor_state.validate,accounting.validate_table,"
                                   "Allocator.validate,ReferenceTable.remove_local"]
