"""What the batch commands refuse, each with its stable code."""

from __future__ import annotations

from ledger.errors import InvalidRequest, LedgerError


class BadBatchFile(InvalidRequest):
    """The file cannot be read as a batch at all (encoding, header, format); nothing was written."""

    code = "invalid_batch_file"


class BatchTooLarge(InvalidRequest):
    code = "batch_too_large"


class BatchRunning(LedgerError):
    """The batch is still crediting; it can be reversed once it has finished."""

    code = "batch_running"


class BatchFileMissing(LedgerError):
    """The batch's spooled file is not on this machine (or was changed); it cannot run here."""

    code = "batch_file_missing"


class UploadTooLarge(InvalidRequest):
    """An upload larger than a batch file may be; nothing was kept."""

    code = "payload_too_large"
