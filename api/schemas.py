"""What every feature's request and response bodies are made of. Requests are strict (no
coercion of numbers, no extra fields); responses document exactly what the server sends
(see /openapi.json). The bodies themselves live in each feature's ``schemas``."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictInt, StrictStr, StringConstraints

from ledger.rules import MAX_MINUTES_PER_POSTING, MAX_POINTS_PER_POSTING

# ---------------------------------------------------------------- field types

# No control characters: a NUL could not even be stored in a PostgreSQL text column, so it
# would halt a projection at that event. C1 controls (U+0080-U+009F) included, as the ledger's
# own check (ledger.rules.check_text) refuses them: the document says what the server takes.
_NO_CONTROLS = r"^[^\x00-\x1f\x7f-\x9f]*$"
_NO_CONTROLS_BUT_LINES = r"^[^\x00-\x08\x0b-\x1f\x7f-\x9f]*$"


def _not_blank(text: str) -> str:
    if not text:
        raise ValueError("must not be blank")
    return text


# Text is checked as sent (the document's pattern and lengths), then trimmed: trimming first
# (strip_whitespace) let a control character through at either end, against the pattern.
TRIM = AfterValidator(str.strip)
NOT_BLANK = AfterValidator(_not_blank)

Name = Annotated[StrictStr, StringConstraints(min_length=1, max_length=100, pattern=_NO_CONTROLS), TRIM, NOT_BLANK]
Memo = Annotated[StrictStr, StringConstraints(max_length=500, pattern=_NO_CONTROLS_BUT_LINES), TRIM]
# The memo of a ledger transaction: one line (check_text refuses line breaks too).
LedgerMemo = Annotated[StrictStr, StringConstraints(max_length=500, pattern=_NO_CONTROLS), TRIM]
Points = Annotated[StrictInt, Field(gt=0, le=MAX_POINTS_PER_POSTING, description="whole points, 1 to 1,000,000")]
Minutes = Annotated[StrictInt, Field(ge=0, le=MAX_MINUTES_PER_POSTING, description="minutes served")]
UnitKind = Literal["street", "community", "compound", "building", "station"]  # = ledger.rules.UNIT_KINDS
PhoneLast4 = Annotated[StrictStr, StringConstraints(pattern=r"^[0-9]{4}$")]
MemberNo = Annotated[StrictStr, StringConstraints(min_length=1, max_length=40, pattern=_NO_CONTROLS), TRIM, NOT_BLANK]


class In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Out(BaseModel):
    pass
