"""The core worker: a library in every driver and worker process, its IO on an event-loop thread.

It owns what its process submits and creates: tasks and their worker leases
(submitter.py with dispatch_policy.py, actor_submitter.py), the objects the
process owns -- values in the in-process memory store, reference counts,
borrowers (memory_store.py, reference_table.py, borrowing.py) -- the lineage
to rebuild lost outputs (lineage.py), `get` / `wait` (getter.py), and which
nodes died, to give up connections there (node_watch.py). core_worker.py ties the parts together (see its
docstring); driver.py adds what only a driver does, joining the cluster as a
job. A worker process runs the same core worker with runtime/worker/'s
executor beside it.
"""
