"""``moralbank verify --file``: an export checked with no database. An untouched export verifies;
one altered byte, one removed line, two swapped lines are each reported at the right event."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ledger.chain import GENESIS, event_digest, link
from ops.transfer import decode_state, export_log
from ops.verify_file import verify_file
from test_transfer import fill


@pytest.fixture
def export(services, clock, tmp_path) -> list[str]:  # type: ignore[no-untyped-def]
    fill(services.ledger, clock)
    path = tmp_path / "export.jsonl"
    with path.open("w", encoding="utf8") as f:
        export_log(services.ledger, f)
    return path.read_text(encoding="utf8").splitlines()


def write(tmp_path: Path, lines: list[str]) -> Path:
    path = tmp_path / "damaged.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf8")
    return path


def position_of_transaction(lines: list[str], nth: int = 1) -> int:
    """The position (1-based, after the header) of the nth transaction event."""
    seen = 0
    for i, text in enumerate(lines[1:], start=1):
        if json.loads(text)["topic"].endswith("LedgerTransaction.Recorded"):
            seen += 1
            if seen == nth:
                return i
    raise AssertionError("not enough transactions")


def test_an_untouched_export_verifies(export, tmp_path) -> None:  # type: ignore[no-untyped-def]
    report = verify_file(write(tmp_path, export))
    assert report.ok, report.violations
    assert report.first_break is None
    assert report.events == len(export) - 1 and report.transactions > 5
    assert report.points_held > 0 and report.points_issued == report.points_held + report.points_redeemed
    assert report.chain_head == json.loads(export[0])["chain_head"]


def test_one_altered_byte_is_found_at_its_event(export, tmp_path) -> None:  # type: ignore[no-untyped-def]
    p = position_of_transaction(export, 3)
    line = export[p]
    assert '"amount":' in line
    i = line.index('"amount":') + len('"amount":')
    altered = line[:i] + str((int(line[i]) + 1) % 10) + line[i + 1 :]  # one digit of the amount
    damaged = [*export[:p], altered, *export[p + 1 :]]
    report = verify_file(write(tmp_path, damaged))
    brk = report.first_break
    assert brk is not None and (brk.kind, brk.position, brk.event_id) == ("altered", p, json.loads(line)["id"])
    assert brk.previous_id == json.loads(export[p - 1])["id"]
    assert not report.ok


def test_a_removed_line_is_found_where_it_was(export, tmp_path) -> None:  # type: ignore[no-untyped-def]
    p = position_of_transaction(export, 2)
    damaged = [*export[:p], *export[p + 1 :]]
    report = verify_file(write(tmp_path, damaged))
    brk = report.first_break
    follower = json.loads(export[p + 1])
    assert brk is not None and (brk.kind, brk.position, brk.event_id) == ("removed", p, follower["id"])
    assert brk.previous_id == json.loads(export[p - 1])["id"]


def test_two_swapped_lines_are_found_at_the_first(export, tmp_path) -> None:  # type: ignore[no-untyped-def]
    p = position_of_transaction(export, 4)
    damaged = [*export[:p], export[p + 1], export[p], *export[p + 2 :]]
    report = verify_file(write(tmp_path, damaged))
    brk = report.first_break
    assert brk is not None and (brk.kind, brk.position, brk.event_id) == ("reordered", p, json.loads(export[p + 1])["id"])
    assert f"(id {json.loads(export[p])['id']})" in brk.detail


def test_a_removed_last_line_is_found(export, tmp_path) -> None:  # type: ignore[no-untyped-def]
    report = verify_file(write(tmp_path, export[:-1]))
    brk = report.first_break
    assert brk is not None and brk.kind == "truncated" and brk.position == len(export) - 1


def test_a_consistent_rewrite_is_caught_by_the_replay(export, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Someone who recomputes the whole chain after raising a payout passes the chain check (only
    published roots expose that) but not the replay: the points no longer add up."""
    p = position_of_transaction(export, 2)
    d = json.loads(export[p])
    # A bigger award, and the volunteer paying out more than they ever held (still double entry).
    d["state"]["postings"][0]["amount"] += 1_000
    d["state"]["postings"].append({"source": d["state"]["postings"][0]["destination"], "destination": "issuing:x", "amount": 5_000})
    lines = [export[0], *export[1:p], json.dumps(d, ensure_ascii=False, separators=(",", ":")), *export[p + 1 :]]
    h = GENESIS
    rechained = [lines[0]]
    for text in lines[1:]:
        e = json.loads(text)
        e["digest"] = event_digest(e["originator_id"], e["originator_version"], e["topic"], decode_state(e)).hex()
        h = link(h, bytes.fromhex(e["digest"]))
        e["hash"] = h.hex()
        rechained.append(json.dumps(e, ensure_ascii=False, separators=(",", ":")))
    header = json.loads(rechained[0])
    header["chain_head"] = h.hex()
    rechained[0] = json.dumps(header, ensure_ascii=False)
    report = verify_file(write(tmp_path, rechained))
    assert report.first_break is None
    assert 1 in report.by_invariant()  # the volunteer went below zero
    assert report.chain_head != json.loads(export[0])["chain_head"]  # and the published root no longer matches


def test_cli_verify_file_needs_no_database(export, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from typer.testing import CliRunner

    from ops.cli import app

    # No store anywhere: a URL that cannot be opened would fail the command if it tried.
    monkeypatch.setenv("MORALBANK_DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")
    monkeypatch.setenv("COLUMNS", "240")
    good = write(tmp_path, export)
    result = CliRunner().invoke(app, ["verify", "--file", str(good)])
    assert result.exit_code == 0, result.output
    assert "OK" in result.stdout and json.loads(export[0])["chain_head"] in result.stdout
    p = position_of_transaction(export, 2)
    bad = tmp_path / "bad.jsonl"
    bad.write_text("\n".join([*export[:p], *export[p + 1 :]]) + "\n", encoding="utf8")
    result = CliRunner().invoke(app, ["verify", "--file", str(bad)])
    assert result.exit_code == 1, result.output
    assert f"removed: event #{p} (line {p + 1}, id {json.loads(export[p + 1])['id']}" in result.stdout
