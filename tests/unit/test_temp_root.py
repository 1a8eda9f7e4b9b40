"""The temp root's rules as pure checks, and the record files written and read without following links."""
import errno
import os
import stat

import pytest

from strato.runtime import temp_root

ME = 1000


def lstat_of(mode, uid=ME):
    # os.stat_result from (mode, ino, dev, nlink, uid, gid, size, atime, mtime, ctime)
    return os.stat_result((mode, 1, 1, 1, uid, uid, 0, 0, 0, 0))


def test_a_private_folder_of_ours_is_fit():
    assert temp_root.temp_root_problem("/tmp/strato-1000", lstat_of(stat.S_IFDIR | 0o700), ME) is None


@pytest.mark.parametrize("mode", [0o755, 0o750, 0o777, 0o701, 0o500, 0o1700])
def test_any_other_mode_is_refused_with_the_chmod_that_fixes_it(mode):
    problem = temp_root.temp_root_problem("/tmp/strato-1000", lstat_of(stat.S_IFDIR | mode), ME)
    assert f"{stat.S_IMODE(mode):04o}" in problem
    assert "chmod 700 /tmp/strato-1000" in problem
    assert "--temp-dir" in problem and "_temp_dir" in problem


def test_a_folder_of_another_user_is_refused_naming_the_owner():
    problem = temp_root.temp_root_problem("/tmp/strato-1000", lstat_of(stat.S_IFDIR | 0o700, uid=666), ME,
                                          owner_name="mallory")
    assert "mallory" in problem and "666" in problem and "rm -r /tmp/strato-1000" in problem


def test_a_symbolic_link_is_refused_even_to_a_private_folder():
    problem = temp_root.temp_root_problem("/tmp/strato-1000", lstat_of(stat.S_IFLNK | 0o777), ME,
                                          link_target="/home/me/private")
    assert "symbolic link" in problem and "/home/me/private" in problem and "rm /tmp/strato-1000" in problem


def test_a_plain_file_is_refused():
    problem = temp_root.temp_root_problem("/tmp/strato-1000", lstat_of(stat.S_IFREG | 0o600), ME)
    assert "not a folder" in problem


@pytest.mark.parametrize("address, name", [
    ("127.0.0.1:6380", "127.0.0.1_6380.json"),
    ("::1:6380", "__1_6380.json"),
    ("../../etc/passwd:1", ".._.._etc_passwd_1.json"),
])
def test_record_names_stay_inside_the_clusters_folder(address, name):
    assert temp_root.record_name(address) == name
    assert os.sep not in temp_root.record_name(address)


def test_write_replaces_a_planted_link_and_never_writes_through_it(tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("precious")
    record = tmp_path / "current.json"
    record.symlink_to(victim)
    temp_root.write_private_file(str(record), b'{"a": 1}')
    assert victim.read_text() == "precious"
    assert not record.is_symlink() and record.read_bytes() == b'{"a": 1}'
    assert stat.S_IMODE(record.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["current.json", "victim"]   # no temp file left


def test_write_is_private_whatever_the_umask(tmp_path):
    old = os.umask(0)
    try:
        temp_root.write_private_file(str(tmp_path / "token"), b"t\n")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "token").stat().st_mode) == 0o600


def test_read_refuses_a_link_and_a_fifo(tmp_path):
    real = tmp_path / "real.json"
    temp_root.write_private_file(str(real), b"{}")
    assert temp_root.read_private_file(str(real)) == b"{}"
    (tmp_path / "link.json").symlink_to(real)
    with pytest.raises(OSError) as info:           # opened with O_NOFOLLOW: a link is never followed
        temp_root.read_private_file(str(tmp_path / "link.json"))
    assert info.value.errno == errno.ELOOP
    os.mkfifo(tmp_path / "fifo.json")
    with pytest.raises(PermissionError):          # opened without blocking, then refused as not a regular file
        temp_root.read_private_file(str(tmp_path / "fifo.json"))


def test_read_refuses_a_file_larger_than_a_record(tmp_path):
    big = tmp_path / "big.json"
    big.write_bytes(b"x" * (temp_root.MAX_RECORD_BYTES + 1))
    with pytest.raises(OSError, match="larger"):
        temp_root.read_private_file(str(big))


def test_a_record_naming_no_running_gcs_is_not_live():
    assert not temp_root.gcs_is_running({})
    assert not temp_root.gcs_is_running({"pid": "x", "started": 0})
    # this very process is alive, but it is not a GCS
    import psutil
    me = psutil.Process()
    assert not temp_root.gcs_is_running({"pid": me.pid, "started": me.create_time()})
