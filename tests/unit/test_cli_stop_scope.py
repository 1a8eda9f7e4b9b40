"""Which daemons `strato stop` picks: detached strato daemons, by the temp root their session lives in."""
import os

from strato.cli import is_under, session_of_daemon

GCS = ["/usr/bin/python", "-m", "strato.runtime.gcs", "--host", "127.0.0.1", "--session-dir", "/tmp/a/session_1",
       "--detached"]


def test_a_detached_gcs_or_raylet_names_its_session():
    assert session_of_daemon(GCS) == "/tmp/a/session_1"
    raylet = [a if a != "strato.runtime.gcs" else "strato.runtime.raylet" for a in GCS]
    assert session_of_daemon(raylet) == "/tmp/a/session_1"


def test_embedded_daemons_and_other_programs_are_not_stopped():
    assert session_of_daemon([a for a in GCS if a != "--detached"]) is None
    assert session_of_daemon(["python", "-m", "strato.runtime.worker", "--session-dir", "/x", "--detached"]) is None
    assert session_of_daemon(["vim", "--detached"]) is None
    assert session_of_daemon([]) is None


def test_a_daemon_without_a_session_flag_has_an_empty_session():
    assert session_of_daemon(["python", "-m", "strato.runtime.gcs", "--detached"]) == ""
    assert session_of_daemon(["python", "-m", "strato.runtime.gcs", "--detached", "--session-dir"]) == ""


def test_is_under_matches_whole_path_components(tmp_path):
    root = tmp_path / "st-a"
    (root / "session_1").mkdir(parents=True)
    (tmp_path / "st-ab").mkdir()
    assert is_under(str(root / "session_1"), str(root))
    assert is_under(str(root / "session_1"), str(root) + os.sep)
    assert not is_under(str(tmp_path / "st-ab" / "session_1"), str(root))   # a sibling with a longer name
    assert not is_under(str(root), str(root))


def test_is_under_sees_through_a_link_to_the_root(tmp_path):
    root = tmp_path / "real"
    (root / "session_1").mkdir(parents=True)
    (tmp_path / "alias").symlink_to(root)
    assert is_under(str(tmp_path / "alias" / "session_1"), str(root))
