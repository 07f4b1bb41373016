"""The one spooler: hashed and size-checked as it comes, written in large blocks, nothing left
behind when an upload is refused or abandoned."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest

from ledger.batches.errors import UploadTooLarge
from ledger.batches.spool import WRITE_BYTES, Spool, spool


@pytest.mark.parametrize(
    ("blocks", "size"),
    [
        ([], 0),
        ([b"member_no,points\n", b"A-1,5\n"], 23),
        ([b"x" * (WRITE_BYTES - 1), b"yy", b"z" * (3 * WRITE_BYTES)], 4 * WRITE_BYTES + 1),
    ],
)
def test_an_upload_is_kept_whole_with_its_hash(tmp_path: Path, blocks: list[bytes], size: int) -> None:
    kept = spool(tmp_path, blocks)
    assert kept.size == size
    assert kept.path.read_bytes() == b"".join(blocks)
    assert kept.sha256 == hashlib.sha256(b"".join(blocks)).hexdigest()


def test_a_file_is_read_in_blocks(tmp_path: Path) -> None:
    data = b"volunteer_id,points\n" * 100_000
    kept = spool(tmp_path / "in", io.BytesIO(data))
    assert kept.path.read_bytes() == data


def test_too_large_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(UploadTooLarge):
        spool(tmp_path, [b"a" * 10, b"b" * 10], max_bytes=15)
    assert list(tmp_path.iterdir()) == []


def test_take_hands_back_only_full_blocks(tmp_path: Path) -> None:
    upload = Spool(tmp_path)
    assert upload.take(b"a" * (WRITE_BYTES // 2)) is None
    ready = upload.take(b"b" * (WRITE_BYTES // 2))
    assert ready is not None and len(ready) == WRITE_BYTES
    upload.abandon()
    assert list(tmp_path.iterdir()) == []
