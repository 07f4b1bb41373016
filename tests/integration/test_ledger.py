"""The ledger's commands, as scenarios run on every store."""

from __future__ import annotations

import pytest

from ledger.accounts import Posting, issuing_account, merchant_account, volunteer_account
from ledger.application import Ledger
from ledger.errors import (
    AlreadyReversed,
    Duplicate,
    IdempotencyConflict,
    InsufficientPoints,
    NotFound,
    NotReversible,
    TokenRevoked,
    UnitCycle,
    UnitKindNotAllowed,
)
from ledger.domain import LedgerTransaction
from ledger.store import ledger_env
from invariants import assert_invariants


@pytest.fixture
def world(ledger: Ledger):  # type: ignore[no-untyped-def]
    street = ledger.create_unit("青禾街道", "street", None)
    community = ledger.create_unit("枫林社区", "community", street.id)
    compound = ledger.create_unit("桂园小区", "compound", community.id)
    building = ledger.create_unit("3号楼", "building", compound.id)
    vol = ledger.register_volunteer("周晓岚", building.id, phone_last4="0917", member_no="QH-0001")
    return street, community, compound, building, vol


def test_credit_is_once_per_key(ledger: Ledger, world, services) -> None:  # type: ignore[no-untyped-def]
    street, community, *_, vol = world
    first = ledger.credit("award-1", community.id, vol.id, 30, minutes=90, memo="社区清扫")
    again = ledger.credit("award-1", community.id, vol.id, 30, minutes=90, memo="社区清扫")
    assert not first.replayed and again.replayed
    assert again.transaction.id == first.transaction.id
    with pytest.raises(IdempotencyConflict):
        ledger.credit("award-1", community.id, vol.id, 31, minutes=90, memo="社区清扫")
    assert ledger.guarded_balance(volunteer_account(vol.id)) == 30
    services.catch_up()
    from projections.queries import balance

    assert balance(services.db, volunteer_account(vol.id)) == {
        "balance": 30, "earned": 30, "redeemed": 0, "minutes": 90, "entries": 1
    }
    assert balance(services.db, issuing_account(community.id))["balance"] == -30
    assert_invariants(services)


def test_key_survives_a_restart(ledger: Ledger, world, settings) -> None:  # type: ignore[no-untyped-def]
    _, community, *_, vol = world
    ledger.credit("k-restart", community.id, vol.id, 5)
    other = Ledger(env=ledger_env(settings.database_url))  # another process would see the same
    try:
        assert other.credit("k-restart", community.id, vol.id, 5).replayed
        assert other.guarded_balance(volunteer_account(vol.id)) == 5
    finally:
        other.close()


def test_debit_never_below_zero(ledger: Ledger, world, services) -> None:  # type: ignore[no-untyped-def]
    _, community, *_, vol = world
    shop = merchant_account(community.id)  # any merchant-shaped account will do here
    ledger.credit("c1", community.id, vol.id, 10)
    ledger.post("d1", "redemption", [Posting(volunteer_account(vol.id), shop, 7)])
    before = ledger.max_notification_id()
    with pytest.raises(InsufficientPoints):
        ledger.post("d2", "redemption", [Posting(volunteer_account(vol.id), shop, 4)])
    assert ledger.max_notification_id() == before  # nothing written
    ledger.post("d3", "redemption", [Posting(volunteer_account(vol.id), shop, 3)])
    assert ledger.guarded_balance(volunteer_account(vol.id)) == 0
    services.catch_up()
    from projections.queries import balance

    assert balance(services.db, volunteer_account(vol.id))["redeemed"] == 10
    assert_invariants(services)


def test_a_never_credited_volunteer_cannot_pay(ledger: Ledger, world) -> None:  # type: ignore[no-untyped-def]
    *_, vol = world
    before = ledger.max_notification_id()
    with pytest.raises(InsufficientPoints):
        ledger.post("d-empty", "redemption", [Posting(volunteer_account(vol.id), merchant_account(vol.id), 1)])
    assert ledger.max_notification_id() == before  # nothing recorded
    with pytest.raises(NotFound):
        ledger.get_transaction(LedgerTransaction.create_id("d-empty"))


def test_reversal_once_and_never_of_a_reversal(ledger: Ledger, world, services) -> None:  # type: ignore[no-untyped-def]
    _, community, *_, vol = world
    credit = ledger.credit("c-rev", community.id, vol.id, 12, minutes=45)
    reversal = ledger.reverse(credit.transaction.id, memo="录入错误")
    assert reversal.transaction.reverses == credit.transaction.id
    assert ledger.get_transaction(credit.transaction.id).reversed_by == reversal.transaction.id
    with pytest.raises(AlreadyReversed):
        ledger.reverse(credit.transaction.id)
    with pytest.raises(NotReversible):
        ledger.reverse(reversal.transaction.id)
    services.catch_up()
    from projections.queries import balance

    assert balance(services.db, volunteer_account(vol.id)) == {
        "balance": 0, "earned": 0, "redeemed": 0, "minutes": 0, "entries": 2
    }
    assert_invariants(services)


def test_reversal_refused_when_points_are_spent(ledger: Ledger, world) -> None:  # type: ignore[no-untyped-def]
    _, community, *_, vol = world
    credit = ledger.credit("c-spent", community.id, vol.id, 10)
    ledger.post("spend", "redemption", [Posting(volunteer_account(vol.id), merchant_account(community.id), 6)])
    with pytest.raises(InsufficientPoints):
        ledger.reverse(credit.transaction.id)
    assert ledger.get_transaction(credit.transaction.id).reversed_by is None


def test_unit_tree(ledger: Ledger, world) -> None:  # type: ignore[no-untyped-def]
    street, community, compound, building, _ = world
    assert ledger.unit_ancestry(building.id) == [building.id, compound.id, community.id, street.id]
    with pytest.raises(UnitKindNotAllowed):
        ledger.create_unit("错层", "building", community.id)
    with pytest.raises(NotFound):
        ledger.create_unit("孤岛", "community", building.id.__class__(int=1))
    other = ledger.create_unit("松竹社区", "community", street.id)
    moved = ledger.move_unit(compound.id, other.id)
    assert moved.parent_id == other.id
    assert ledger.unit_ancestry(building.id)[-2] == other.id
    with pytest.raises(UnitCycle):
        ledger.move_unit(compound.id, compound.id)


def test_member_number_is_unique(ledger: Ledger, world) -> None:  # type: ignore[no-untyped-def]
    *_, building, vol = world
    assert ledger.find_volunteer_by_member_no("QH-0001").id == vol.id
    with pytest.raises(Duplicate):
        ledger.register_volunteer("另一个人", building.id, member_no="QH-0001")


def test_tokens(ledger: Ledger, world) -> None:  # type: ignore[no-untyped-def]
    _, community, *_ = world
    issued = ledger.issue_token("organizer", "枫林社区办公室", unit_ids=[community.id])
    assert issued.secret.startswith("mb_o_")
    token = ledger.authenticate(issued.secret)
    assert token.role == "organizer" and token.unit_ids == [community.id]
    assert issued.secret not in repr(token.__dict__)  # only the hash is stored
    ledger.revoke_token(token.id)
    with pytest.raises(TokenRevoked):
        ledger.authenticate(issued.secret)
    with pytest.raises(NotFound):
        ledger.authenticate("mb_a_never-issued")
    assert token.id in {t.id for t in ledger.list_tokens()}


def test_a_client_key_names_one_reversal(ledger: Ledger, world) -> None:  # type: ignore[no-untyped-def]
    _, community, *_, vol = world
    a = ledger.credit("c-a", community.id, vol.id, 4).transaction
    b = ledger.credit("c-b", community.id, vol.id, 5).transaction
    first = ledger.reverse(a.id, memo="重复录入", request_key="client:1")
    again = ledger.reverse(a.id, memo="重复录入", request_key="client:1")
    assert again.replayed and again.transaction.id == first.transaction.id
    with pytest.raises(IdempotencyConflict):
        ledger.reverse(b.id, memo="重复录入", request_key="client:1")  # same key, another original
    with pytest.raises(IdempotencyConflict):
        ledger.reverse(a.id, memo="另一个理由", request_key="client:1")  # same key, another body
    with pytest.raises(AlreadyReversed):
        ledger.reverse(a.id, memo="重复录入", request_key="client:2")  # another key, already done
    assert ledger.get_transaction(b.id).reversed_by is None
