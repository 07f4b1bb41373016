"""What the activity and attendance commands refuse, each with its stable code."""

from __future__ import annotations

from ledger.codes import CodeInvalid
from ledger.errors import LedgerError

class ActivityClosed(LedgerError):
    """Cancelled, not started yet, or over: no scans."""

    code = "activity_closed"


class ActivityFull(LedgerError):
    code = "activity_full"


class CodeWrongActivity(CodeInvalid):
    """A valid code, but for another activity than the one the scanner is on."""

    code = "code_wrong_activity"


class AlreadyCheckedOut(LedgerError):
    code = "already_checked_out"


class NotPending(LedgerError):
    """An approval for an attendance that is not waiting for one."""

    code = "not_pending"


class ActivityNotOver(LedgerError):
    code = "activity_not_over"


class ActivityCancelled(LedgerError):
    """The activity was already cancelled."""

    code = "activity_cancelled"


class ScanTooEarly(LedgerError):
    """An organizer's scan stamped before scans of the activity open."""

    code = "scan_too_early"


class ScanTooLate(LedgerError):
    """An organizer's scan stamped after scans of the activity closed (its end + the late allowance)."""

    code = "scan_too_late"


class ScanInFuture(LedgerError):
    """An organizer's scan stamped later than the server's now (a device clock running ahead)."""

    code = "scan_in_future"


class SyncTooLate(LedgerError):
    """An offline scan synced after the activity's end + the sync allowance: ask an organizer to
    credit it by hand."""

    code = "sync_too_late"
