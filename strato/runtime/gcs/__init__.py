"""The GCS: one process per cluster, on the head node (`python -m strato.runtime.gcs`).

It owns the cluster's source of truth: the node table and health checks
(server.py, node_health.py), jobs, the KV that functions and classes are
exported through, the actor table with every actor's creation and restarts
(actor_manager.py, around actor_state.py's lifecycle and decisions), the
placement groups (placement_group_manager.py: atomic prepare/commit on the
raylets, around placement_group_state.py's lifecycle and
placement_group_policy.py's pure bundle placement), and the task events
core workers report (batches in columns, expanded to rows by
task_event_rows.py). storage.py is where tables are kept
(in memory, storage_sqlite.py, storage_redis.py; opened by storage_url.py),
written through on every change; recovery.py takes a cluster back when the
GCS starts again on storage that holds one.
http_api.py serves the state API from those tables, with the task table
folded from the events (task_table.py) and rows in Ray's shapes
(state_rows.py). All of it runs in the GCS process; only state_rows.py, pure,
is also imported by drivers (strato.util.state), for the same filter rules.
"""
