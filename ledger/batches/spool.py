"""Keeping an upload on disk before it is checked: one spooler for the API (which streams the
request body in, a block at a time) and the CLI (which copies a file).

The file is hashed and size-checked as it comes, written in large blocks, fsync'd when finished
(a batch that was accepted must survive a crash of the machine), and removed if the upload is
abandoned. It is never held whole in memory.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from ledger.batches.errors import UploadTooLarge

MAX_UPLOAD_BYTES = 256 << 20  # a 1 000 000-line file with memos
WRITE_BYTES = 1 << 20  # gathered before each write


@dataclass(frozen=True)
class Spooled:
    path: Path
    sha256: str
    size: int


class Spool:
    """One upload on its way to the spool directory. ``take`` each block (cheap, no I/O); it
    hands back what should now be written with ``write`` (maybe in a worker thread);
    ``finish`` writes the rest and syncs; ``abandon`` removes the file."""

    def __init__(self, directory: Path, *, max_bytes: int = MAX_UPLOAD_BYTES) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / f"incoming-{uuid.uuid4().hex}"
        self.max_bytes = max_bytes
        self._file = self.path.open("wb")
        self._digest = hashlib.sha256()
        self._size = 0
        self._pending: list[bytes] = []
        self._held = 0

    def take(self, block: bytes) -> bytes | None:
        """Raises UploadTooLarge."""
        self._size += len(block)
        if self._size > self.max_bytes:
            raise UploadTooLarge(f"a batch file is at most {self.max_bytes} bytes", max_bytes=self.max_bytes)
        self._digest.update(block)
        self._pending.append(block)
        self._held += len(block)
        if self._held < WRITE_BYTES:
            return None
        ready, self._pending, self._held = b"".join(self._pending), [], 0
        return ready

    def write(self, data: bytes) -> None:
        self._file.write(data)

    def finish(self) -> Spooled:
        self._file.write(b"".join(self._pending))
        self._pending, self._held = [], 0
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        return Spooled(self.path, self._digest.hexdigest(), self._size)

    def abandon(self) -> None:
        self._file.close()
        self.path.unlink(missing_ok=True)


def spool(directory: Path, source: Iterable[bytes] | BinaryIO, *, max_bytes: int = MAX_UPLOAD_BYTES) -> Spooled:
    """Copy blocks (or a binary file) into the spool directory. Raises UploadTooLarge."""
    blocks: Iterable[bytes] = iter(lambda: source.read(WRITE_BYTES), b"") if hasattr(source, "read") else source  # type: ignore[union-attr]
    upload = Spool(directory, max_bytes=max_bytes)
    try:
        for block in blocks:
            ready = upload.take(block)
            if ready is not None:
                upload.write(ready)
        return upload.finish()
    except BaseException:
        upload.abandon()
        raise
