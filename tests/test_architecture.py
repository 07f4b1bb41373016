"""DESIGN.md's arrows, checked on the source: which of our packages may import which."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
OURS = ("ledger", "merchants", "projections", "api", "ops")

# package -> packages (or exact modules) it may import. Its own package is always allowed.
ALLOWED: dict[str, set[str]] = {
    "ledger": set(),
    "merchants": {"ledger"},
    "projections": {"ledger", "merchants"},
    "api": {"ledger", "merchants", "projections", "ops.settings"},
    "ops": {"ledger", "merchants", "projections", "api"},
}


def imports_of(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found += [(node.lineno, node.module)]
            found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
    return found


def violations(package: str, root: Path = ROOT) -> list[str]:
    bad = []
    for path in sorted((root / package).rglob("*.py")):
        for lineno, name in imports_of(path):
            top = name.split(".")[0]
            if top not in OURS or top == package:
                continue
            allowed = ALLOWED[package]
            if top in allowed or any(name == m or name.startswith(m + ".") for m in allowed if "." in m):
                continue
            # ``from ops import settings`` names the module ops.settings as well as ops itself.
            if name in {m.rsplit(".", 1)[0] for m in allowed if "." in m}:
                continue
            line = f"{path.relative_to(root)}:{lineno}"
            if not any(b.startswith(line + " ") for b in bad):
                bad.append(f"{line} imports {name}")
    return bad


@pytest.mark.parametrize("package", OURS)
def test_imports_follow_design(package: str) -> None:
    assert (ROOT / package / "__init__.py").exists(), f"{package}/ is a package of DESIGN.md"
    assert violations(package) == []


def test_checker_catches_wrong_arrows(tmp_path: Path) -> None:
    # The checker itself must be able to fail.
    (tmp_path / "ledger").mkdir()
    (tmp_path / "ledger" / "x.py").write_text("from api.app import create_app\nimport projections.db\n")
    (tmp_path / "api").mkdir()
    (tmp_path / "api" / "y.py").write_text("from ops.settings import Settings\nfrom ops import wiring\n")
    assert violations("ledger", tmp_path) == ["ledger/x.py:1 imports api.app", "ledger/x.py:2 imports projections.db"]
    assert violations("api", tmp_path) == ["api/y.py:2 imports ops.wiring"]
