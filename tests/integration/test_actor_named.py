"""Named actors, namespaces, get_if_exists and lifetimes.

* `.options(name=...)` registers the actor under that name in a namespace
  (the job's own unless `namespace=` says otherwise); names are unique per
  namespace, and taking a used one fails with a clear error.
* `strato.get_actor(name, namespace=...)` returns a handle to it.
* `get_if_exists=True` returns the existing actor instead of failing, so a
  notebook cell that defines a class and creates a named actor can be re-run.
* `lifetime="detached"` actors outlive the driver that created them and a
  later driver finds them by name; other actors die with their driver.

The lifetime tests start their own cluster with `strato start --head
--temp-dir ...` (the `cli_cluster` fixture) and run each driver as a
subprocess, so "the driver exits" is real.
"""
import os
import subprocess
import sys
import textwrap
import uuid

import pytest

import strato
from strato._testing import process_gone

pytestmark = pytest.mark.timeout(180)


@strato.remote
class Store:
    def __init__(self, label=""):
        self.label = label
        self.items = {}

    def set(self, key, value):
        self.items[key] = value

    def get(self, key):
        return self.items.get(key)

    def get_label(self):
        return self.label


def unique(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


# --- one driver ----------------------------------------------------------------------

@pytest.mark.usefixtures("cluster")
class TestNamesInOneDriver:
    def test_get_actor_returns_a_handle_to_the_same_actor(self):
        name = unique("store")
        s = Store.options(name=name).remote()
        s.set.remote("k", "v")
        found = strato.get_actor(name)
        assert found == s
        assert strato.get(found.get.remote("k"), timeout=60) == "v"
        strato.kill(s)

    def test_a_name_that_is_taken_is_a_clear_error(self):
        name = unique("taken")
        s = Store.options(name=name).remote()
        strato.get(s.get.remote("x"), timeout=60)
        with pytest.raises(ValueError) as info:
            Store.options(name=name).remote()
        message = str(info.value)
        assert name in message and "already" in message, message
        strato.kill(s)

    def test_the_same_name_can_be_used_in_different_namespaces(self):
        name = unique("shared")
        a = Store.options(name=name, namespace="team_a").remote("a")
        b = Store.options(name=name, namespace="team_b").remote("b")
        assert a != b
        assert strato.get(strato.get_actor(name, namespace="team_a").get_label.remote(), timeout=60) == "a"
        assert strato.get(strato.get_actor(name, namespace="team_b").get_label.remote(), timeout=60) == "b"
        strato.kill(a)
        strato.kill(b)

    def test_get_actor_looks_in_the_jobs_namespace_unless_told_otherwise(self):
        name = unique("elsewhere")
        a = Store.options(name=name, namespace="other_ns").remote()
        strato.get(a.get.remote("x"), timeout=60)
        with pytest.raises(ValueError, match=name):
            strato.get_actor(name)
        assert strato.get_actor(name, namespace="other_ns") == a
        strato.kill(a)

    def test_list_named_actors_shows_live_names_of_this_namespace_or_all(self):
        mine, theirs = unique("listed"), unique("listed-elsewhere")
        a = Store.options(name=mine).remote()
        b = Store.options(name=theirs, namespace="listing_ns").remote()
        unnamed = Store.remote()
        strato.get([a.get.remote("x"), b.get.remote("x"), unnamed.get.remote("x")], timeout=60)
        names = strato.util.list_named_actors()
        assert mine in names and theirs not in names
        everywhere = strato.util.list_named_actors(all_namespaces=True)
        assert {"name": theirs, "namespace": "listing_ns"} in everywhere
        assert all(entry["name"] for entry in everywhere)           # unnamed actors are not listed
        strato.kill(a)
        strato.kill(b)
        assert mine not in strato.util.list_named_actors()           # dead ones neither

    def test_get_node_ip_address_is_the_nodes_address(self):
        assert strato.util.get_node_ip_address() == strato.nodes()[0]["NodeManagerAddress"]

    def test_get_actor_of_an_unknown_name_is_a_value_error(self):
        with pytest.raises(ValueError, match="no-such-actor"):
            strato.get_actor("no-such-actor")

    def test_a_killed_actors_name_is_free_again(self):
        name = unique("reused")
        first = Store.options(name=name).remote("first")
        strato.get(first.get.remote("x"), timeout=60)
        strato.kill(first)
        with pytest.raises(ValueError):
            strato.get_actor(name)
        second = Store.options(name=name).remote("second")
        assert strato.get(strato.get_actor(name).get_label.remote(), timeout=60) == "second"
        strato.kill(second)

    def test_a_task_finds_a_named_actor_in_its_jobs_namespace(self):
        name = unique("from-task")
        s = Store.options(name=name).remote()
        s.set.remote("k", 1)

        @strato.remote
        def read(actor_name):
            return strato.get(strato.get_actor(actor_name).get.remote("k"))

        assert strato.get(read.remote(name), timeout=60) == 1
        strato.kill(s)

    def test_get_if_exists_returns_the_existing_actor(self):
        name = unique("once")
        first = Store.options(name=name, get_if_exists=True).remote("first")
        first.set.remote("k", "kept")
        again = Store.options(name=name, get_if_exists=True).remote("second")
        assert again == first
        assert strato.get(again.get_label.remote(), timeout=60) == "first", "the constructor did not run again"
        assert strato.get(again.get.remote("k"), timeout=30) == "kept"
        strato.kill(first)

    def test_re_running_a_notebook_cell_with_get_if_exists_returns_the_existing_actor(self, recwarn):
        name = unique("cell")

        def cell():
            # A notebook cell that defines the class anew each time it runs.
            @strato.remote
            class Session:
                def __init__(self):
                    self.hits = 0

                def hit(self):
                    self.hits += 1
                    return self.hits

            session = Session.options(name=name, get_if_exists=True).remote()
            return session, strato.get(session.hit.remote(), timeout=60)

        first, hits_1 = cell()
        second, hits_2 = cell()
        third, hits_3 = cell()
        assert first == second == third
        assert (hits_1, hits_2, hits_3) == (1, 2, 3)
        assert not [w for w in recwarn if "strato" in str(w.filename)], [str(w.message) for w in recwarn]
        strato.kill(first)


# --- several drivers -------------------------------------------------------------------

CREATE = """
import os, strato
strato.init(address={address!r}, _temp_dir={temp_dir!r}, namespace="shared")

@strato.remote
class Keeper:
    def __init__(self):
        self.items = {{}}
    def set(self, key, value):
        self.items[key] = value
    def get(self, key):
        return self.items.get(key)
    def pid(self):
        return os.getpid()

kept = Keeper.options(name="keeper", lifetime="detached").remote()
temp = Keeper.options(name="temporary").remote()
strato.get([kept.set.remote("answer", 42), temp.set.remote("answer", 0)])
print("PIDS", strato.get(kept.pid.remote()), strato.get(temp.pid.remote()), flush=True)
# The driver exits here without killing either actor.
"""

CHECK = """
import time, strato
strato.init(address={address!r}, _temp_dir={temp_dir!r}{namespace_kw})

kept = strato.get_actor("keeper"{lookup_ns})
print("ANSWER", strato.get(kept.get.remote("answer"), timeout=60), flush=True)

deadline = time.monotonic() + 60
while time.monotonic() < deadline:
    try:
        strato.get_actor("temporary"{lookup_ns})
    except ValueError:
        print("TEMPORARY GONE", flush=True)
        break
    time.sleep(0.2)
else:
    print("TEMPORARY STILL THERE", flush=True)
{cleanup}
"""


def run_driver(cli_cluster, tmp_path, name, source):
    script = tmp_path / f"{name}.py"
    script.write_text(textwrap.dedent(source))
    proc = subprocess.run([sys.executable, str(script)], env=cli_cluster.env, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=150)
    assert proc.returncode == 0, f"{name} failed:\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    return proc.stdout


def test_a_detached_actor_outlives_its_driver_and_a_second_driver_finds_it(cli_cluster, tmp_path, poll):
    address = cli_cluster.start_head(num_cpus=2)
    fmt = {"address": address, "temp_dir": cli_cluster.temp_dir}

    out = run_driver(cli_cluster, tmp_path, "creator", CREATE.format(**fmt))
    kept_pid, temp_pid = (int(p) for p in out.split("PIDS")[1].split())

    # The non-detached actor died with its driver; the detached one lives on.
    assert poll(lambda: process_gone(temp_pid), 30), "a non-detached actor must die with its driver"
    assert not process_gone(kept_pid), "a detached actor must outlive its driver"

    # A second driver, in the same namespace, finds the detached actor and its state.
    out = run_driver(cli_cluster, tmp_path, "second", CHECK.format(
        namespace_kw=', namespace="shared"', lookup_ns="", cleanup="", **fmt))
    assert "ANSWER 42" in out
    assert "TEMPORARY GONE" in out, out

    # A third driver in another namespace names the namespace explicitly, then kills the actor.
    out = run_driver(cli_cluster, tmp_path, "third", CHECK.format(
        namespace_kw="", lookup_ns=', namespace="shared"',
        cleanup='strato.kill(kept)\nprint("KILLED", flush=True)', **fmt))
    assert "ANSWER 42" in out and "KILLED" in out
    assert poll(lambda: process_gone(kept_pid), 30), "strato.kill ends a detached actor"


def test_a_detached_actor_needs_no_name_to_outlive_its_driver(cli_cluster, tmp_path):
    address = cli_cluster.start_head(num_cpus=1)
    source = f"""
import os, strato
strato.init(address={address!r}, _temp_dir={cli_cluster.temp_dir!r})

@strato.remote
class Pinger:
    def pid(self):
        return os.getpid()

p = Pinger.options(lifetime="detached").remote()
print("PID", strato.get(p.pid.remote()), flush=True)
"""
    out = run_driver(cli_cluster, tmp_path, "anonymous", source)
    pid = int(out.split("PID")[1].split()[0])
    assert not process_gone(pid)
    # `strato stop` (the fixture's teardown) ends it with the cluster.
