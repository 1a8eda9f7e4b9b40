"""Where the arena goes: /dev/shm when it has room, else a temp directory, with a warning."""
import logging
import os

from strato.runtime.object_store.server import files


def test_a_directory_with_room_is_used(tmp_path):
    assert files.choose_dir(1 << 20, str(tmp_path)) == str(tmp_path)


def test_too_little_room_falls_back_to_a_temp_directory_and_says_what_to_do(tmp_path, caplog):
    free = os.statvfs(tmp_path).f_bavail * os.statvfs(tmp_path).f_frsize
    with caplog.at_level(logging.WARNING, logger=files.__name__):
        chosen = files.choose_dir(free * 4 + (1 << 40), str(tmp_path))
    assert chosen == files.fallback_dir() and os.path.isdir(chosen)
    assert "--shm-size" in caplog.text and "object_store_memory" in caplog.text


def test_a_missing_directory_counts_as_no_room(tmp_path):
    assert files.choose_dir(1 << 20, str(tmp_path / "missing")) == files.fallback_dir()
