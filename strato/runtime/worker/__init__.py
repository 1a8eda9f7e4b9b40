"""A worker process (`python -m strato.runtime.worker`): started by its node's raylet, it runs tasks
or exactly one actor.

__main__.py reads the token from the raylet, starts a core worker
(core_worker/) and registers with the raylet; the executor (executor.py)
runs the tasks pushed to it, in the main thread. A worker owns only what its
tasks create: results go back to their callers, and output.py streams a
task's prints to the driver that submitted it. cell_runner.py is the body
of a %%remote cell's task (or session actor), run here like any remote
function.
"""
