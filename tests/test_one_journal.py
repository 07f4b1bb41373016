"""Points move through one door: in the product's code only ``ledger/journal.py`` builds a ledger
transaction or hands balance deltas and paid line keys to the store."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("ledger", "merchants", "projections", "api", "ops")
JOURNAL = "ledger/journal.py"
# An import restores events recorded elsewhere (an export): it builds nothing, so it inserts them
# with their guard deltas directly.
RESTORES = {"ops/transfer.py"}
GUARD_OPTIONS = {"balance_deltas", "line_keys"}


def doors(root: Path = ROOT) -> list[str]:
    """Every place that builds a LedgerTransaction or passes the guard's save options."""
    found = []
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            rel = path.relative_to(root).as_posix()
            for node in ast.walk(ast.parse(path.read_text(), filename=rel)):
                if not isinstance(node, ast.Call):
                    continue
                name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
                if name == "LedgerTransaction":
                    found.append(f"{rel}:{node.lineno} builds a LedgerTransaction")
                if rel not in RESTORES:
                    found += [f"{rel}:{node.lineno} passes {k.arg}" for k in node.keywords if k.arg in GUARD_OPTIONS]
    return found


def test_only_the_journal_moves_points() -> None:
    assert [d for d in doors() if not d.startswith(JOURNAL + ":")] == []


def test_the_check_finds_another_door(tmp_path: Path) -> None:
    (tmp_path / "merchants").mkdir()
    (tmp_path / "merchants" / "x.py").write_text(
        "from ledger.domain import LedgerTransaction\n"
        "t = LedgerTransaction(key='k')\n"
        "app.save(t, balance_deltas=[('volunteer:1', -1)])\n"
    )
    for package in PACKAGES:
        (tmp_path / package).mkdir(exist_ok=True)
    assert doors(tmp_path) == ["merchants/x.py:2 builds a LedgerTransaction", "merchants/x.py:3 passes balance_deltas"]
