"""The hash chain, for anyone to check: public daily roots, and a volunteer's proof that one of
their entries is in a day's root (``ledger.chain``)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Path, Query

from api.chain.schemas import DailyRootOut, DailyRootsOut, ProofOut, ProvenEventOut
from api.datetimes import Day
from api.deps import LedgerDep, OwnVolunteer, ServicesDep, ZoneDep
from api.problems import responses
from ledger import chain
from ledger.accounts import volunteer_account
from ledger.errors import InvalidRequest, NotFound

router = APIRouter(prefix="/v1", tags=["chain"])

_DEFAULT_DAYS = 7


@router.get(
    "/ledger/roots",
    response_model=DailyRootsOut,
    responses=responses(422),
    summary="Daily roots of the hash chain (public)",
    description=(
        "The root of a day (cut in the server's zone) is the SHA-256 chain hash of the last event "
        "recorded by the end of that day: h_n = sha256(h_{n-1} + d_n), h_0 = 32 zero bytes, "
        "d_n = sha256(originator_id + '\\n' + version + '\\n' + topic + '\\n' + state bytes). "
        f"Days after today are left out; at most {chain.MAX_ROOT_DAYS} days per request; "
        f"default: the {_DEFAULT_DAYS} days up to today."
    ),
)
def daily_roots(
    services: ServicesDep,
    ledger: LedgerDep,
    zone: ZoneDep,
    first: Annotated[Day | None, Query(alias="from", description="first day (YYYY-MM-DD)")] = None,
    last: Annotated[Day | None, Query(alias="to", description="last day (YYYY-MM-DD), inclusive")] = None,
) -> DailyRootsOut:
    today = chain.day_of(services.clock.now(), zone)
    last = last or today
    first = first or last - timedelta(days=_DEFAULT_DAYS - 1)
    if last < first:
        raise InvalidRequest("`to` is before `from`", **{"from": first.isoformat(), "to": last.isoformat()})
    if (last - first).days + 1 > chain.MAX_ROOT_DAYS:
        raise InvalidRequest(f"at most {chain.MAX_ROOT_DAYS} days per request")
    last = min(last, today)
    roots = chain.daily_roots(ledger.recorder, first, last, zone) if first <= last else []
    return DailyRootsOut(
        zone=zone.key,
        items=[
            DailyRootOut(
                day=r.day, root=r.root.hex(), last_notification_id=r.last_notification_id, events=r.events,
                complete=r.day < today,
            )
            for r in roots
        ],
    )


@router.get(
    "/me/entries/{transaction_id}/proof",
    response_model=ProofOut,
    responses=responses(401, 403, 404, 422),
    summary="Proof that one of my entries is in its day's root",
    description=(
        "Fold the event's digest onto `previous_hash`, then each of `following_digests`: the "
        "result is `root`, which `GET /v1/ledger/roots` publishes for `day`. 404 for a transaction "
        "that does not move my points."
    ),
)
def entry_proof(
    volunteer: OwnVolunteer,
    ledger: LedgerDep,
    services: ServicesDep,
    zone: ZoneDep,
    transaction_id: Annotated[UUID, Path(description="the entry's `transaction_id`")],
) -> ProofOut:
    txn = ledger.get_transaction(transaction_id)
    mine = volunteer_account(volunteer.id)
    if not any(mine in (p.source, p.destination) for p in txn.postings):
        raise NotFound("transaction not found", id=str(transaction_id))
    proof = chain.prove(ledger.recorder, txn.id, 1, zone)
    if proof is None:  # recorded, but its save has not committed the chain row yet: not visible
        raise NotFound("transaction not found", id=str(transaction_id))
    return ProofOut(
        day=proof.day,
        zone=zone.key,
        event=ProvenEventOut(
            notification_id=proof.notification_id,
            originator_id=proof.originator_id,
            originator_version=proof.originator_version,
            topic=proof.topic,
            state=proof.state.decode("utf8"),
            recorded_at=proof.recorded_at.astimezone(zone),
        ),
        previous_hash=proof.previous.hex(),
        following_digests=[d.hex() for d in proof.following],
        root=proof.root.hex(),
        last_notification_id=proof.last_notification_id,
        complete=proof.day < chain.day_of(services.clock.now(), zone),
    )
