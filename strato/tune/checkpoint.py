"""tune.Checkpoint: a directory of files a trial saved (Ray's Checkpoint, local filesystem).

    with tempfile.TemporaryDirectory() as tmp:
        torch.save(model, f"{tmp}/model.pt")
        tune.report({"loss": l}, checkpoint=tune.Checkpoint.from_directory(tmp))
                                       ^ copied into the trial's folder before report returns
    ckpt = tune.get_checkpoint()        # on restore: the latest persisted checkpoint, or None
    with ckpt.as_directory() as d: ...  # read it in place
    ckpt.to_directory()                 # a private copy

Storage is a local (or shared) path: on a multi-node cluster the storage_path
must be a folder every node sees (a network filesystem), as with Ray.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile

METADATA_FILE = ".metadata.json"


class Checkpoint:
    def __init__(self, path: str | os.PathLike, filesystem=None):
        if filesystem is not None:
            raise ValueError("strato.tune.Checkpoint supports local paths only (filesystem=None); mount remote "
                             "storage as a folder instead.")
        self.path = os.fspath(path)
        self.filesystem = None

    @classmethod
    def from_directory(cls, path: str | os.PathLike) -> "Checkpoint":
        path = os.fspath(path)
        if not os.path.isdir(path):
            raise ValueError(f"Checkpoint.from_directory: {path!r} is not a directory.")
        return cls(os.path.abspath(path))

    @contextlib.contextmanager
    def as_directory(self):
        """The checkpoint's folder itself (read it; do not change it)."""
        yield self.path

    def to_directory(self, path: str | os.PathLike | None = None) -> str:
        """Copy the checkpoint's files into `path` (a new temporary folder if None); returns it."""
        dest = os.fspath(path) if path is not None else tempfile.mkdtemp(prefix="strato-checkpoint-")
        shutil.copytree(self.path, dest, dirs_exist_ok=True)
        return dest

    def get_metadata(self) -> dict:
        try:
            with open(os.path.join(self.path, METADATA_FILE)) as f:
                return json.load(f)
        except FileNotFoundError:
            return {}

    def set_metadata(self, metadata: dict) -> None:
        with open(os.path.join(self.path, METADATA_FILE), "w") as f:
            json.dump(metadata, f)

    def update_metadata(self, metadata: dict) -> None:
        self.set_metadata({**self.get_metadata(), **metadata})

    def __eq__(self, other):
        return isinstance(other, Checkpoint) and other.path == self.path

    def __hash__(self):
        return hash(self.path)

    def __repr__(self):
        return f"Checkpoint(path={self.path!r})"
