"""The GCS writes its tables through to storage and a new GCS on the same store takes them back
(gcs/server.py, gcs/recovery.py). No processes: GcsServer's handlers are called directly, on a SQLite file,
and a second GcsServer is opened on the same file, as a restarted GCS process would be."""
import asyncio

from strato.runtime.config import SystemConfig
from strato.runtime.gcs import storage
from strato.runtime.gcs.actor_state import ActorState
from strato.runtime.gcs.server import GcsServer
from strato.runtime.gcs.storage_sqlite import SqliteStoreClient
from strato.runtime.protocol import gcs_pb2

N1, N2 = b"\x01" * 16, b"\x02" * 16
A_NAMED, A_WAITING, A_DEAD = b"\xa1" * 16, b"\xa2" * 16, b"\xa3" * 16


def gcs_on(path) -> GcsServer:
    return GcsServer(SqliteStoreClient(str(path)), SystemConfig(), "/session", "token")


def node(node_id, port):
    return gcs_pb2.NodeInfo(node_id=node_id, address="127.0.0.1", raylet_port=port, resources_total={"CPU": 1.0},
                            resources_available={"CPU": 1.0}, start_time=float(port))


def actor(actor_id, name="", max_restarts=0, node_id=N1):
    return gcs_pb2.RegisterActorRequest(info=gcs_pb2.ActorInfo(
        actor_id=actor_id, name=name, namespace="ns", class_name="Counter", job_id=b"\0\0\0\1",
        max_restarts=max_restarts, node_id=node_id))


def run(coro):
    return asyncio.run(coro)


async def fill(gcs: GcsServer) -> None:
    """What a first GCS saw: two nodes (one then died), two jobs (one finished), KV, three actors."""
    await gcs.RegisterNode(gcs_pb2.RegisterNodeRequest(node=node(N1, 1001)), None)
    await gcs.RegisterNode(gcs_pb2.RegisterNodeRequest(node=node(N2, 1002)), None)
    gcs._mark_dead(N2, "no heartbeat")
    first = (await gcs.AddJob(gcs_pb2.AddJobRequest(job=gcs_pb2.JobInfo(namespace="a")), None)).job_id
    await gcs.AddJob(gcs_pb2.AddJobRequest(job=gcs_pb2.JobInfo(namespace="b")), None)
    await gcs.MarkJobFinished(gcs_pb2.MarkJobFinishedRequest(job_id=first), None)
    await gcs.KVPut(gcs_pb2.KVPutRequest(namespace="fn", key=b"f1", value=b"pickled function"), None)
    await gcs.KVPut(gcs_pb2.KVPutRequest(namespace="fn", key=b"gone", value=b"x"), None)
    await gcs.KVDel(gcs_pb2.KVDelRequest(namespace="fn", key=b"gone"), None)
    await gcs.RegisterActor(actor(A_NAMED, name="keeper", max_restarts=0, node_id=N2), None)
    await gcs.RegisterActor(actor(A_WAITING, name="waiting"), None)
    await gcs.RegisterActor(actor(A_DEAD, name="old"), None)
    m = gcs.actors
    m.actors[A_NAMED].creation_spec = b"spec of keeper"
    m._set_state(m.actors[A_NAMED], ActorState.PENDING_CREATION)
    m.actors[A_NAMED].info.address = "127.0.0.1:9"
    m._set_state(m.actors[A_NAMED], ActorState.ALIVE)
    await m.kill(A_DEAD, no_restart=True)


def test_a_new_gcs_on_the_same_file_has_nodes_jobs_kv_and_actors(tmp_path):
    async def scenario():
        first = gcs_on(tmp_path / "gcs.sqlite")
        await fill(first)
        first.store.close()

        second = gcs_on(tmp_path / "gcs.sqlite")
        found = second.recover()
        await asyncio.sleep(0.05)           # let the reconnections it started run
        return second, found

    gcs, found = run(scenario())
    # nodes: both known, in registration order; only the live one is health-checked (given a fresh timeout)
    assert list(gcs.nodes) == [N1, N2]
    assert gcs.nodes[N1].alive and not gcs.nodes[N2].alive
    assert set(gcs.health.last_seen) == {N1}
    assert found["nodes"] == 1 and found["dead nodes"] == 1
    # jobs: both, and the counter goes on from the last one
    jobs = run(gcs.GetAllJobs(gcs_pb2.Empty(), None)).jobs
    assert sorted((j.job_id, j.is_dead) for j in jobs) == [(b"\0\0\0\1", True), (b"\0\0\0\2", False)]
    assert gcs.job_counter == 2
    # KV: what was put, not what was deleted
    assert run(gcs.KVGet(gcs_pb2.KVGetRequest(namespace="fn", key=b"f1"), None)).value == b"pickled function"
    assert not run(gcs.KVGet(gcs_pb2.KVGetRequest(namespace="fn", key=b"gone"), None)).found
    # actors: the waiting one keeps its name; the dead one none; the ALIVE one was on the node that died
    # while the GCS was away, so it is dead now (no restarts), its name freed, its spec kept
    m = gcs.actors
    assert m.actors[A_WAITING].state is ActorState.DEPENDENCIES_UNREADY
    assert m.named == {("ns", "waiting"): A_WAITING}
    assert m.actors[A_DEAD].state is ActorState.DEAD
    keeper = m.actors[A_NAMED]
    assert keeper.state is ActorState.DEAD and "died" in keeper.info.death_cause
    assert keeper.creation_spec == b"spec of keeper"
    assert found["actors"] == 2      # alive or waiting when the first GCS stopped


def test_what_the_new_gcs_changes_is_written_through_as_well(tmp_path):
    async def scenario():
        first = gcs_on(tmp_path / "gcs.sqlite")
        await fill(first)
        first.store.close()
        second = gcs_on(tmp_path / "gcs.sqlite")
        second.recover()
        await asyncio.sleep(0.05)
        job = (await second.AddJob(gcs_pb2.AddJobRequest(job=gcs_pb2.JobInfo(namespace="c")), None)).job_id
        second.store.close()
        return job

    assert run(scenario()) == b"\0\0\0\3"         # not a reused id
    s = SqliteStoreClient(str(tmp_path / "gcs.sqlite"))
    raw_info, _ = storage.parse_actor_record(s.get(storage.ACTORS, A_NAMED))
    assert gcs_pb2.ActorInfo.FromString(raw_info).state == "DEAD"     # the death found at recovery is stored
    assert len(s.items(storage.JOBS)) == 3
    s.close()


def test_a_dead_node_that_registers_again_stays_dead(tmp_path):
    async def scenario():
        gcs = gcs_on(tmp_path / "gcs.sqlite")
        await fill(gcs)
        await gcs.RegisterNode(gcs_pb2.RegisterNodeRequest(node=node(N2, 1002)), None)   # N2 was marked dead
        beat = await gcs.Heartbeat(gcs_pb2.HeartbeatRequest(node_id=N2), None)
        unknown = gcs_pb2.NodeInfo(node_id=b"\x03" * 16, address="127.0.0.1", raylet_port=1003)
        await gcs.RegisterNode(gcs_pb2.RegisterNodeRequest(node=unknown), None)     # a new node is welcome
        gcs.store.close()
        return gcs, beat

    gcs, beat = run(scenario())
    assert not gcs.nodes[N2].alive and not beat.known
    assert gcs.nodes[b"\x03" * 16].alive


def test_a_retried_actor_registration_returns_the_first_one(tmp_path):
    async def scenario():
        gcs = gcs_on(tmp_path / "gcs.sqlite")
        first = await gcs.RegisterActor(actor(A_WAITING, name="waiting"), None)
        again = await gcs.RegisterActor(actor(A_WAITING, name="waiting"), None)      # its reply was lost
        other = await gcs.RegisterActor(actor(A_DEAD, name="waiting"), None)         # a real clash
        gcs.store.close()
        return first, again, other

    first, again, other = run(scenario())
    assert not first.error and not again.error and again.info.actor_id == A_WAITING
    assert "already taken" in other.error


def test_an_unreadable_actor_record_is_skipped_not_fatal(tmp_path):
    s = SqliteStoreClient(str(tmp_path / "gcs.sqlite"))
    s.put(storage.ACTORS, b"broken", b"\0\0")
    info = gcs_pb2.ActorInfo(actor_id=A_DEAD, state="DEAD", name="old", namespace="ns")
    s.put(storage.ACTORS, A_DEAD, storage.actor_record(info.SerializeToString(), b""))
    s.close()

    async def scenario():
        gcs = gcs_on(tmp_path / "gcs.sqlite")
        gcs.recover()
        gcs.store.close()
        return gcs

    gcs = run(scenario())
    assert list(gcs.actors.actors) == [A_DEAD]


def test_an_actor_whose_creation_was_under_way_is_created_again_after_its_leased_worker_is_ended(tmp_path):
    calls = []

    async def scenario():
        first = gcs_on(tmp_path / "gcs.sqlite")
        await first.RegisterNode(gcs_pb2.RegisterNodeRequest(node=node(N1, 1001)), None)
        await first.RegisterActor(actor(A_WAITING, name="making"), None)
        m = first.actors
        entry = m.actors[A_WAITING]
        entry.creation_spec = b"spec"
        m._set_state(entry, ActorState.PENDING_CREATION)
        entry.info.worker_id, entry.info.node_id = b"\x77" * 16, N1        # leased, constructor not answered
        m.on_change(entry)
        first.store.close()

        second = gcs_on(tmp_path / "gcs.sqlite")

        async def kill_worker(raylet, worker_id):
            calls.append(("kill", raylet.address, worker_id))

        async def create(entry):
            calls.append(("create", entry.info.actor_id, entry.creation_spec))
        second.actors._kill_worker, second.actors._create = kill_worker, create
        second.recover()
        await asyncio.sleep(0.05)
        second.store.close()
        return second

    gcs = run(scenario())
    assert calls == [("kill", "127.0.0.1:1001", b"\x77" * 16), ("create", A_WAITING, b"spec")]
    assert gcs.actors.named == {("ns", "making"): A_WAITING}


def test_a_job_whose_driver_went_away_while_the_gcs_was_down_finishes_and_takes_its_actors(tmp_path):
    from strato._testing import free_port

    async def scenario():
        first = gcs_on(tmp_path / "gcs.sqlite")
        job = gcs_pb2.JobInfo(namespace="ns", driver_address="")    # no driver to watch in the first GCS
        job_id = (await first.AddJob(gcs_pb2.AddJobRequest(job=job), None)).job_id
        raw = gcs_pb2.JobInfo.FromString(first.store.get(storage.JOBS, job_id))
        raw.driver_address = f"127.0.0.1:{free_port()}"                 # where nothing listens any more
        first.store.put(storage.JOBS, job_id, raw.SerializeToString())
        await first.RegisterActor(actor(A_WAITING, name="owned"), None)                   # job 1's
        detached = actor(A_NAMED, name="detached")
        detached.info.detached = True
        await first.RegisterActor(detached, None)
        first.store.close()

        second = gcs_on(tmp_path / "gcs.sqlite")
        second.recover()
        for _ in range(100):                     # the driver connection is refused at once
            await asyncio.sleep(0.02)
            if second.actors.actors[A_WAITING].state is ActorState.DEAD:
                break
        jobs = (await second.GetAllJobs(gcs_pb2.Empty(), None)).jobs
        second.store.close()
        return second, jobs

    gcs, jobs = run(scenario())
    assert [j.is_dead for j in jobs] == [True]
    assert gcs.actors.actors[A_WAITING].state is ActorState.DEAD
    assert "driver" in gcs.actors.actors[A_WAITING].info.death_cause
    assert gcs.actors.actors[A_NAMED].state is ActorState.DEPENDENCIES_UNREADY      # detached: not the job's
