"""RFC 9457 problem details: every 4xx the API sends, and the one table from ledger errors
to HTTP status and stable ``code``.

Only refusals are translated here, and a database that cannot be reached (503
``store_unavailable``). Any other exception that is not a ``LedgerError`` nor one of the
API's own ``Problem`` s is a bug and is left to surface as a 500.
"""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

import psycopg
from eventsourcing import persistence as es_persistence
from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import iter_route_contexts
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from ledger.activities import errors as activity_errors
from ledger import codes as lc
from ledger.batches import errors as batch_errors
from ledger.cards import errors as card_errors
from ledger.roster import errors as roster_errors
from ledger import errors as le
from merchants import errors as me

MEDIA_TYPE = "application/problem+json"
TYPE_PREFIX = "urn:moralbank:problem:"


class ProblemResponse(JSONResponse):
    media_type = MEDIA_TYPE


class Problem(Exception):
    """A refusal raised by the API layer itself (auth, headers, cursors)."""

    status = 400
    code = "bad_request"
    title = "Bad request"

    def __init__(self, detail: str, *, headers: Mapping[str, str] | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.headers = dict(headers or {})
        self.extra = extra


class Unauthorized(Problem):
    status, code, title = 401, "unauthorized", "Authentication required"

    def __init__(self, detail: str, *, invalid_token: bool = False) -> None:
        challenge = 'Bearer error="invalid_token"' if invalid_token else "Bearer"
        super().__init__(detail, headers={"WWW-Authenticate": challenge})


class Forbidden(Problem):
    status, code, title = 403, "forbidden", "Not allowed"


class InvalidIdempotencyKey(Problem):
    status, code, title = 400, "invalid_idempotency_key", "Invalid Idempotency-Key header"


class InvalidCursor(Problem):
    status, code, title = 400, "invalid_cursor", "Invalid cursor"


class UnsupportedBatchType(Problem):
    status, code, title = 415, "unsupported_media_type", "Unsupported media type"


class BatchUploadTooLarge(Problem):
    status, code, title = 413, "payload_too_large", "Payload too large"


class NotReady(Problem):
    status, code, title = 503, "not_ready", "Not ready"


# PostgreSQL down, restarting or unreachable, through psycopg or the eventsourcing library (a
# pool that timed out waiting for a connection is one of these too): the request may be sent
# again, with the same Idempotency-Key, a moment later. Other database errors are bugs (500).
STORE_UNAVAILABLE: tuple[type[Exception], ...] = (
    psycopg.OperationalError,
    psycopg.InterfaceError,
    es_persistence.OperationalError,
    es_persistence.InterfaceError,
)
STORE_RETRY_AFTER_SECONDS = 1


# The one table: ledger error → (HTTP status, stable code, title). The most specific class
# in an exception's MRO wins, so a subclass without its own row inherits its parent's.
LEDGER_ERRORS: Mapping[type[le.LedgerError], tuple[int, str, str]] = {
    le.NotFound: (404, "not_found", "Not found"),
    le.InvalidRequest: (422, "invalid_request", "Request breaks a rule"),
    le.InvalidAmount: (422, "invalid_amount", "Invalid amount"),
    le.UnitCycle: (422, "unit_cycle", "Unit cycle"),
    le.UnitKindNotAllowed: (422, "unit_kind_not_allowed", "Unit kind not allowed here"),
    le.NotReversible: (422, "not_reversible", "Not reversible"),
    le.Duplicate: (409, "duplicate", "Already exists"),
    le.InsufficientPoints: (409, "insufficient_points", "Insufficient points"),
    le.IdempotencyConflict: (409, "idempotency_conflict", "Idempotency key reused"),
    le.AlreadyReversed: (409, "already_reversed", "Already reversed"),
    le.ConcurrencyExhausted: (409, "conflict", "Concurrent change"),
    le.TokenRevoked: (401, "unauthorized", "Authentication required"),
    # signed QR codes (ledger.codes) and the merchant alliance (merchants.errors)
    lc.CodeInvalid: (422, "code_invalid", "Invalid code"),
    lc.CodeExpired: (422, "code_expired", "Code expired"),
    me.CodeUsed: (409, "code_used", "Code already used"),
    me.MerchantSuspended: (403, "merchant_suspended", "Merchant suspended"),
    me.NotYourOffer: (403, "forbidden", "Not allowed"),
    me.OfferUnavailable: (409, "offer_unavailable", "Offer unavailable"),
    me.LimitReached: (409, "limit_reached", "Limit reached"),
    me.CardLimitReached: (409, "card_limit_reached", "Daily cap on card payments reached"),
    # activities and scans (ledger.activities)
    activity_errors.CodeWrongActivity: (422, "code_wrong_activity", "Code for another activity"),
    activity_errors.ActivityClosed: (409, "activity_closed", "Activity closed"),
    activity_errors.ActivityFull: (409, "activity_full", "Activity full"),
    activity_errors.ActivityCancelled: (409, "activity_cancelled", "Activity cancelled"),
    activity_errors.ActivityNotOver: (409, "activity_not_over", "Activity not over"),
    activity_errors.AlreadyCheckedOut: (409, "already_checked_out", "Already checked out"),
    activity_errors.NotPending: (409, "not_pending", "Not waiting for approval"),
    activity_errors.ScanTooEarly: (422, "scan_too_early", "Scan made before the activity opened"),
    activity_errors.ScanTooLate: (422, "scan_too_late", "Scan made after the activity closed"),
    activity_errors.ScanInFuture: (422, "scan_in_future", "Scan stamped in the future"),
    activity_errors.SyncTooLate: (422, "sync_too_late", "Offline scan synced too late"),
    # welfare-day batches (ledger.batches)
    batch_errors.BadBatchFile: (422, "invalid_batch_file", "Batch file cannot be read"),
    batch_errors.BatchTooLarge: (413, "batch_too_large", "Batch too large"),
    batch_errors.BatchRunning: (409, "batch_running", "Batch still running"),
    batch_errors.BatchFileMissing: (409, "batch_file_missing", "Batch file not on this server"),
    # member cards and sign-in links (ledger.cards)
    card_errors.PinInvalid: (422, "pin_invalid", "PIN not allowed"),
    card_errors.PinWrong: (401, "pin_wrong", "Wrong PIN"),
    card_errors.CardLocked: (423, "card_locked", "Card locked"),
    card_errors.CardRevoked: (401, "card_revoked", "Card replaced"),
    card_errors.CardNotIssued: (404, "card_not_issued", "No member card"),
    card_errors.LinkInvalid: (401, "link_invalid", "Not a sign-in link"),
    card_errors.LinkUsed: (409, "link_used", "Sign-in link already used"),
    card_errors.LinkExpired: (410, "link_expired", "Sign-in link expired"),
    # roster imports (ledger.roster)
    roster_errors.BadRosterFile: (422, "invalid_roster_file", "Roster file cannot be read"),
    roster_errors.RosterTooLarge: (413, "roster_too_large", "Roster too large"),
}

# Codes the API itself produces outside that table (for the OpenAPI description and tests).
HTTP_CODES: Mapping[int, str] = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


def ledger_mapping(exc: le.LedgerError) -> tuple[int, str, str]:
    """Raises LookupError for a ledger error class with no row (a bug: add the row)."""
    for cls in type(exc).__mro__:
        if cls in LEDGER_ERRORS:
            return LEDGER_ERRORS[cls]  # type: ignore[index]
    raise LookupError(f"no HTTP mapping for {type(exc).__name__}")


class ProblemDetail(BaseModel):
    """RFC 9457 problem details, with a stable machine-readable ``code`` and, for some
    codes, extra members (``errors`` for validation, ``checks`` for readiness, …)."""

    model_config = ConfigDict(extra="allow", title="Problem")

    type: str = Field(examples=[TYPE_PREFIX + "not_found"])
    title: str
    status: int
    detail: str
    code: str = Field(examples=["not_found"])
    instance: str | None = None


def problem(
    request: Request,
    status: int,
    code: str,
    title: str,
    detail: str,
    *,
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> ProblemResponse:
    body = {
        "type": TYPE_PREFIX + code,
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
        "instance": request.url.path,
    }
    for key, value in extra.items():
        body.setdefault(key, value)
    return ProblemResponse(jsonable_encoder(body), status_code=status, headers=dict(headers or {}))


# ---------------------------------------------------------------- handlers


def _api_problem(request: Request, exc: Exception) -> ProblemResponse:
    assert isinstance(exc, Problem)
    return problem(request, exc.status, exc.code, exc.title, exc.detail, headers=exc.headers, **exc.extra)


def _ledger_problem(request: Request, exc: Exception) -> ProblemResponse:
    assert isinstance(exc, le.LedgerError)
    status, code, title = ledger_mapping(exc)
    headers = {"WWW-Authenticate": 'Bearer error="invalid_token"'} if status == 401 else None
    return problem(request, status, code, title, exc.message, headers=headers, **exc.details)


def _store_problem(request: Request, exc: Exception) -> ProblemResponse:
    return problem(
        request, 503, "store_unavailable", "Store unavailable",
        "the database cannot be reached just now; send the request again (with the same Idempotency-Key)",
        headers={"Retry-After": str(STORE_RETRY_AFTER_SECONDS)},
    )


def _validation_problem(request: Request, exc: Exception) -> ProblemResponse:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    if any(e.get("type") == "json_invalid" for e in errors):
        where = next(e for e in errors if e.get("type") == "json_invalid")
        return problem(
            request, 400, "malformed_json", "Malformed JSON",
            f"the request body is not valid JSON: {where.get('ctx', {}).get('error', 'decode error')}",
        )
    if isinstance(exc.body, (bytes, bytearray)):
        # A body that was not declared as JSON is passed through as bytes.
        return problem(
            request, 415, "unsupported_media_type", "Unsupported media type",
            "send the request body as JSON with Content-Type: application/json",
        )
    fields = [{"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": str(e.get("type", ""))} for e in errors]
    summary = "; ".join(f"{'.'.join(map(str, f['loc']))}: {f['msg']}" for f in fields[:5])
    return problem(request, 422, "validation_error", "Invalid request", summary, errors=fields)


def _http_problem(request: Request, exc: Exception) -> ProblemResponse:
    assert isinstance(exc, StarletteHTTPException)
    status = exc.status_code
    code = HTTP_CODES.get(status, f"http_{status}")
    title = HTTPStatus(status).phrase
    detail = exc.detail if isinstance(exc.detail, str) and exc.detail != title else {
        404: "no such resource",
        405: f"{request.method} is not allowed here",
    }.get(status, title)
    headers = exc.headers
    allow = allowed_methods(request) if status == 405 else None
    if allow:
        headers = {**(headers or {}), "Allow": allow}
    return problem(request, status, code, title, detail, headers=headers)


def allowed_methods(request: Request) -> str | None:
    """Every method some route serves at this path (RFC 9110 §15.5.6). Starlette's own
    ``Allow`` names only the first route whose path matched (GET and POST /v1/activities are
    two routes)."""
    path, root = request.scope["path"], request.scope.get("root_path", "")
    path = path[len(root):] if root and path.startswith(root) else path
    methods: set[str] = set()
    for route in iter_route_contexts(request.app.routes):
        regex, route_methods = getattr(route, "path_regex", None), route.methods
        if route_methods and regex is not None and regex.match(path):
            methods |= route_methods
    return ", ".join(sorted(methods)) or None


def install(app: FastAPI) -> None:
    app.add_exception_handler(Problem, _api_problem)
    app.add_exception_handler(le.LedgerError, _ledger_problem)
    app.add_exception_handler(RequestValidationError, _validation_problem)
    app.add_exception_handler(StarletteHTTPException, _http_problem)
    for cls in STORE_UNAVAILABLE:
        app.add_exception_handler(cls, _store_problem)


# ---------------------------------------------------------------- OpenAPI

_DESCRIPTIONS: Mapping[int, str] = {
    400: "Malformed JSON (`malformed_json`), a bad `Idempotency-Key` (`invalid_idempotency_key`) or cursor (`invalid_cursor`)",
    401: "Missing, unknown or revoked bearer token (`unauthorized`)",
    403: "The token's role or scope does not allow this (`forbidden`), or the merchant is suspended (`merchant_suspended`)",
    404: "No such thing, or not visible to this token (`not_found`)",
    409: "Refused by the ledger's state (`duplicate`, `insufficient_points`, `idempotency_conflict`, `already_reversed`, `conflict`, `code_used`, `offer_unavailable`, `limit_reached`, `activity_closed`, `activity_full`, `already_checked_out`, `not_pending`, …)",
    415: "The body is not JSON (`unsupported_media_type`)",
    422: "Invalid input (`validation_error`) or a rule of the ledger (`invalid_amount`, `unit_cycle`, `unit_kind_not_allowed`, `not_reversible`, `code_invalid`, `code_expired`, `code_wrong_activity`, …)",
    503: "Not ready (`not_ready`), or the database cannot be reached just now (`store_unavailable`, with `Retry-After`)",
}

PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The ``responses=`` argument of a route that may answer with these problems."""
    return {
        s: {"description": _DESCRIPTIONS.get(s, HTTPStatus(s).phrase), "content": {MEDIA_TYPE: {"schema": PROBLEM_REF}}}
        for s in statuses
    }


def add_schema(openapi: dict[str, Any]) -> dict[str, Any]:
    schemas = openapi.setdefault("components", {}).setdefault("schemas", {})
    schemas["Problem"] = ProblemDetail.model_json_schema(ref_template="#/components/schemas/{model}")
    # Every /v1 operation reads or writes the store, so any of them may answer 503
    # store_unavailable while the database cannot be reached.
    for path, item in openapi.get("paths", {}).items():
        if path.startswith("/v1/"):
            for op in item.values():
                if isinstance(op, dict) and "responses" in op:
                    op["responses"].setdefault("503", responses(503)[503])
    return openapi
