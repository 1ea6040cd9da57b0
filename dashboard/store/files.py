"""Where image bytes live: one small interface over any fsspec URL (a local folder, s3://...)."""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import fsspec

from dashboard.errors import MissingImageError

CHUNK = 1 << 20


class FileStorage:
    """Reads and writes file bytes by key under a base URL.

    Keys are relative, '/'-separated and chosen by the store (never by a user), e.g.
    ``ab/ab12...ef.jpg`` (the sha256), so identical bytes are stored once.
    """

    def __init__(self, url: str, **storage_options) -> None:
        self.url = url.rstrip("/")
        self.fs, self.root = fsspec.core.url_to_fs(self.url, **storage_options)
        self.root = self.root.rstrip("/")
        protocols = (self.fs.protocol,) if isinstance(self.fs.protocol, str) else self.fs.protocol
        self.local = "file" in protocols  # s3fs's protocol is ("s3", "s3a")
        if self.local:
            self.fs.makedirs(self.root, exist_ok=True)

    def check_writable(self) -> None:
        """Raise an OSError now if keys cannot be written here: a local folder that cannot be
        made or written, or a bucket that does not exist (a long job asks before its work)."""
        if self.local:
            if not os.access(self.root, os.W_OK):
                raise PermissionError(errno.EACCES, "Permission denied", self.root)
            return
        bucket = self.root.split("/", 1)[0]
        if not self.fs.exists(bucket):
            raise FileNotFoundError(errno.ENOENT, "No such bucket", bucket)

    def _path(self, key: str) -> str:
        if key.startswith("/") or ".." in key.split("/"):
            raise ValueError(f"invalid storage key {key!r}")
        return f"{self.root}/{key}"

    def put(self, key: str, data: bytes) -> None:
        """Write the bytes whole or not at all (put_image trusts any existing key)."""
        path = self._path(key)
        if not self.local:  # one PUT (or a multipart upload completed at the end)
            self.fs.pipe_file(path, data)
            return
        self.fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
        partial = f"{path}.{uuid.uuid4().hex}.partial"
        try:
            with self.fs.open(partial, "wb") as fh:
                fh.write(data)
            self.fs.mv(partial, path)
        finally:
            if self.fs.exists(partial):
                self.fs.rm(partial)

    def put_file(self, key: str, source: Path) -> None:
        """Keep the finished local file ``source`` under ``key``, whole or not at all, and
        remove ``source``: renamed when it is in place already, else copied aside and renamed
        (a local folder) or uploaded (a remote store's object appears when complete)."""
        path = self._path(key)
        if not self.local:
            self.fs.put_file(str(source), path)
            source.unlink()
            return
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.parent.resolve() != target.parent.resolve():
            partial = target.with_name(f"{target.name}.{uuid.uuid4().hex}.partial")
            try:
                shutil.copyfile(source, partial)
            except BaseException:
                partial.unlink(missing_ok=True)
                raise
            source.unlink()
            source = partial
        os.replace(source, target)

    def size(self, key: str) -> int:
        return int(self.fs.size(self._path(key)))

    def put_image(self, data: bytes, suffix: str) -> tuple[str, str]:
        """Store bytes under a content-addressed key; returns (key, sha256)."""
        digest = hashlib.sha256(data).hexdigest()
        key = f"{digest[:2]}/{digest}{suffix.lower()}"
        if not self.exists(key):
            self.put(key, data)
        return key, digest

    def exists(self, key: str) -> bool:
        return self.fs.exists(self._path(key))

    def open(self, key: str) -> IO[bytes]:
        try:
            return self.fs.open(self._path(key), "rb")
        except FileNotFoundError as exc:
            raise MissingImageError(f"image bytes not found in storage: {key}") from exc

    def read(self, key: str) -> bytes:
        with self.open(key) as fh:
            return fh.read()

    def iter_chunks(self, key: str, chunk_size: int = CHUNK) -> Iterator[bytes]:
        with self.open(key) as fh:
            while chunk := fh.read(chunk_size):
                yield chunk
