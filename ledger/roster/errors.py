"""What a roster import refuses as a whole, each with its stable code. (A line's own refusal is
not an exception: it is a reason code in the line's report, see ``rules.REASONS``.)"""

from __future__ import annotations

from ledger.errors import InvalidRequest


class BadRosterFile(InvalidRequest):
    """The file cannot be read as a roster at all (encoding, header, empty); nothing was written."""

    code = "invalid_roster_file"


class RosterTooLarge(InvalidRequest):
    code = "roster_too_large"
