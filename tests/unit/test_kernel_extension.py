"""`%load_ext strato` wiring, in an in-process IPython shell (no kernel, no cluster)."""
import pytest

from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell

from strato import exceptions


@pytest.fixture
def ip():
    shell = InteractiveShell.instance()
    try:
        yield shell
    finally:
        if "strato" in shell.extension_manager.loaded:
            shell.run_line_magic("unload_ext", "strato")
        InteractiveShell.clear_instance()


def test_load_registers_magics_hooks_and_the_traceback_renderer(ip):
    ip.run_line_magic("load_ext", "strato")
    assert "cluster" in ip.magics_manager.magics["line"]
    assert "remote" in ip.magics_manager.magics["cell"]
    assert ip.custom_exceptions == (exceptions.TaskError,)
    ip.run_line_magic("unload_ext", "strato")
    assert "cluster" not in ip.magics_manager.magics["line"]
    assert ip.custom_exceptions == ()


def test_bad_arguments_fail_before_touching_a_cluster(ip):
    ip.run_line_magic("load_ext", "strato")
    with pytest.raises(UsageError, match="unknown command 'launch'"):
        ip.run_line_magic("cluster", "launch")
    with pytest.raises(UsageError, match="unknown option --bogus"):
        ip.run_cell_magic("remote", "--bogus", "x = 1")
    with pytest.raises(UsageError, match="syntax error in the cell, line 2"):
        ip.run_cell_magic("remote", "", "x = (")
    with pytest.raises(UsageError, match="not connected"):
        ip.run_line_magic("cluster", "status")


def test_cells_are_tagged_with_their_execution_count(ip):
    from strato.kernel.routing import execution_count_of
    from strato.util import output

    ip.run_line_magic("load_ext", "strato")
    ip.run_cell("import strato.util.output as _o\nseen = _o.current_tag()", store_history=True)
    assert execution_count_of(ip.user_ns["seen"]) == ip.execution_count - 1
    assert output.current_tag() is None          # cleared after the cell
