"""Schemathesis against a RUNNING server: every operation of /openapi.json, as each role.

A real ``moralbank serve`` process (uvicorn, projections in the process) on SQLite and on
PostgreSQL, seeded with the e2e neighbourhood (``build_world``: units, volunteers, a shop,
and a token per role), with the abuse limits off (``MORALBANK_RATE_LIMITS=false``) so no 429
hides what a route does. Schemathesis (its engine, as its CLI runs it: examples, coverage,
fuzzing, and stateful sequences through the links it infers from the responses) calls every
operation with the token of a volunteer, a shop, an organizer and an admin (ids of the
world's units, volunteers and shop are drawn half of the time for id fields, so calls get
past "not found" into the routes' own rules), and checks each
response: never a 5xx, a status the document declares, the declared content type, headers
and body schema, an ``Allow`` header that names the path's methods, schema-violating input
refused, and no route that declares a token answering without one.

``DELETE /v1/tokens/{token_id}`` runs last, on its own: it revokes whatever token the run
lists (the admin's own too), which would turn every later call into a 401.

The union of the operations tried must be every operation of the document, so a route
cannot be skipped silently. Bounded: ``MAX_EXAMPLES`` cases per operation and phase.
"""

from __future__ import annotations

import collections
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from e2e_contract import build_world
from schemathesis.engine import Status, events, from_schema
from schemathesis.engine.run import PhaseName
from serving import free_port, stop, wait_healthy

SEED = int(os.environ.get("MORALBANK_SCHEMATHESIS_SEED", "20261202"))
MAX_EXAMPLES = int(os.environ.get("MORALBANK_SCHEMATHESIS_MAX_EXAMPLES", "10"))
STATEFUL_STEPS = 10
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
    "allow_header_conformance",
    "negative_data_rejection",
    "ignored_auth",
)
BOOTSTRAP = "mb_schemathesis_admin"
TOKENS_DELETE = "DELETE /v1/tokens/{token_id}"
# Each role, an operation it must have answered with a 2xx (proof the token works, so the calls
# reached the route's code and not only the authentication in front of it), and whether the
# coverage phase runs: its ~1 800 boundary and schema-violating values of every parameter run
# as the admin, whom no route refuses before reading the input; the other roles fuzz.
ROLES = (
    ("vol_own", "GET /v1/me", False),
    ("merchant", "GET /v1/merchants/me", False),
    ("org_in", "GET /v1/activities", False),
    ("admin", "GET /v1/tokens", True),
)


@dataclass
class Server:
    url: str
    secrets: dict[str, str | None]
    ids: dict[str, list[str]]  # the world's real ids, by kind
    log: Path


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[Server]:
    from ops.settings import Settings
    from ops.wiring import build_services, close_services

    var = tmp_path / "var"
    settings = Settings(database_url=database_url, var_dir=var, secret_key="schemathesis-key", bootstrap_token=BOOTSTRAP, pool_size=4)
    services = build_services(settings)
    try:
        world = build_world(services, BOOTSTRAP)
    finally:
        close_services(services)
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("MORALBANK_", "PROMETHEUS_"))},
        "MORALBANK_DATABASE_URL": database_url,
        "MORALBANK_VAR_DIR": str(var),
        "MORALBANK_SECRET_KEY": "schemathesis-key",
        "MORALBANK_BOOTSTRAP_TOKEN": BOOTSTRAP,
        "MORALBANK_POOL_SIZE": "4",
        "MORALBANK_INPROCESS_PROJECTIONS": "true",  # one process is the whole system, on either store
        "MORALBANK_RATE_LIMITS": "false",  # thousands of calls from one address and token
    }
    log = tmp_path / "serve.log"
    cli = Path(sys.executable).with_name("moralbank")
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [str(cli), "serve", "--port", str(port), "--log-level", "warning"], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, lambda: proc.poll() is None, lambda: log.read_text()[-3000:])
        ids = {
            "units": [str(u) for u in world.units.values()],
            "volunteers": [str(world.vol_own), str(world.vol_other)],
            "merchants": [str(world.merchant)],
        }
        yield Server(url, world.secrets, ids, log)
    finally:
        stop(proc)


@dataclass
class Run:
    """What one engine run tried and found."""

    name: str
    operations: set[str] = field(default_factory=set)  # tried in the examples/coverage/fuzzing phases
    cases: collections.Counter[str] = field(default_factory=collections.Counter)  # per phase
    statuses: dict[str, collections.Counter[int]] = field(default_factory=lambda: collections.defaultdict(collections.Counter))
    linked_steps: int = 0  # stateful steps whose input came from an earlier response (a link)
    inferred_links: int = 0
    failures: dict[tuple[str, str, str], str] = field(default_factory=dict)  # (operation, check, title) -> how to reproduce
    errors: list[str] = field(default_factory=list)
    stop_reason: str = ""
    seconds: float = 0.0

    def ok_operations(self) -> set[str]:
        return {label for label, seen in self.statuses.items() if any(200 <= s < 300 for s in seen)}

    def summary(self) -> str:
        return (
            f"{self.name}: {len(self.operations)} operations, {sum(self.cases.values())} cases {dict(self.cases)}, "
            f"{self.linked_steps} stateful steps through {self.inferred_links} inferred links, "
            f"{len(self.ok_operations())} operations answered 2xx, {self.seconds:.1f}s"
        )


# Where an id of the world is drawn half of the time (the other half is generated), so calls
# get past "no such unit" into the route's own rules, and create things later steps link to.
ID_FIELDS = {
    "units": ("path.unit_id", "query.unit_id", "body.unit_id", "body.parent_id", "body.unit_ids[*]"),
    "volunteers": ("path.volunteer_id", "body.volunteer_id", "body.volunteer_ids[*]"),
    "merchants": ("path.merchant_id",),
}


def run_schemathesis(
    name: str, server: Server, token: str | None, *, coverage: bool = True, paths: str | None = None, without: str | None = None
) -> Run:
    base_url = server.url
    config = schemathesis.Config.from_dict({
        "dictionaries": {kind: {"values": values} for kind, values in server.ids.items()},
        "parameters": {key: {"dictionary": kind, "probability": 0.5} for kind, keys in ID_FIELDS.items() for key in keys},
        "seed": SEED,
        "headers": {"Authorization": f"Bearer {token}"} if token else {},
        "workers": 1,
        "request-timeout": 30,
        "generation": {"max-examples": MAX_EXAMPLES, "database": "none"},
        "checks": {"enabled": False, **{check: {"enabled": True} for check in CHECKS}},
        "phases": {
            "examples": {"enabled": True},
            "coverage": {"enabled": coverage},
            "fuzzing": {"enabled": True},
            "stateful": {"enabled": True, "max-steps": STATEFUL_STEPS},
        },
    })
    schema = schemathesis.openapi.from_url(base_url + "/openapi.json", config=config)
    if paths is not None:
        schema = schema.include(path_regex=paths)
    if without is not None:
        method, path = without.split(" ", 1)
        schema = schema.exclude(method=method, path=path)
    run = Run(name)
    started = time.monotonic()
    for event in from_schema(schema).execute():
        if isinstance(event, events.PhaseStarted) and event.payload is not None:
            run.inferred_links = event.payload.inferred_transitions
        elif isinstance(event, events.ScenarioFinished):
            record(run, event)
        elif isinstance(event, (events.NonFatalError, events.FatalError)):
            run.errors.append(repr(event))
        elif isinstance(event, events.EngineFinished):
            run.stop_reason = str(event.stop_reason)
    run.seconds = time.monotonic() - started
    return run


def record(run: Run, event: Any) -> None:
    recorder = event.recorder
    stateful = event.phase == PhaseName.STATEFUL_TESTING
    run.cases[event.phase.value] += len(recorder.cases)
    if event.status == Status.ERROR:
        run.errors.append(f"{event.phase.value} {recorder.label}: error")
    cases = {case_id: node.value for case_id, node in recorder.cases.items()}
    for case_id, node in recorder.cases.items():
        if stateful and node.transition is not None and node.is_transition_applied:
            run.linked_steps += 1
    for case_id, interaction in recorder.interactions.items():
        if interaction.response is None:
            continue
        case = cases.get(case_id)
        label = case.operation.label if case is not None else recorder.label
        run.statuses[label][interaction.response.status_code] += 1
        if not stateful and case is not None and case.operation.label == recorder.label:
            run.operations.add(label)
    for case_id, checks in recorder.checks.items():
        for check in checks:
            if check.status != Status.FAILURE or check.failure_info is None:
                continue
            failure = check.failure_info.failure
            case = cases.get(case_id)
            label = case.operation.label if case is not None else recorder.label
            steps = " ; ".join(step.curl for step in check.failure_info.steps[-2:]) or check.failure_info.code_sample
            run.failures.setdefault((label, check.name, failure.title), f"{failure.message}\n    {steps}")


def document_operations(base_url: str) -> set[str]:
    document = httpx.get(base_url + "/openapi.json", timeout=10).json()
    return {f"{method.upper()} {path}" for path, item in document["paths"].items() for method in item if method in {"get", "post", "put", "patch", "delete"}}


def test_schemathesis_finds_no_server_error_and_no_schema_mismatch(server: Server, store: str) -> None:
    documented = document_operations(server.url)
    assert TOKENS_DELETE in documented and len(documented) >= 50, sorted(documented)
    runs = []
    for role, must_answer, coverage in ROLES:
        run = run_schemathesis(role, server, server.secrets[role], coverage=coverage, without=TOKENS_DELETE)
        print(f"[{store}] {run.summary()}")
        runs.append(run)
        assert run.operations == documented - {TOKENS_DELETE}, sorted(documented - {TOKENS_DELETE} - run.operations)
        assert must_answer in run.ok_operations(), (role, dict(run.statuses.get(must_answer, {})), server.log.read_text()[-2000:])
    admin = runs[-1]
    # The admin reaches real code on most routes (an admin token that stopped working would
    # turn every call into a 401 and still find nothing).
    assert len(admin.ok_operations()) >= 25, sorted(admin.ok_operations())
    assert admin.linked_steps > 0 and admin.inferred_links > 0, admin.summary()
    last = run_schemathesis("admin: tokens", server, server.secrets["admin"], paths="^/v1/tokens")  # the list feeds the delete its ids
    print(f"[{store}] {last.summary()}")
    runs.append(last)
    assert TOKENS_DELETE in last.operations
    tried = set().union(*(r.operations for r in runs))
    assert tried == documented, sorted(documented ^ tried)
    total = sum(sum(r.cases.values()) for r in runs)
    print(f"[{store}] schemathesis {schemathesis.__version__}: {len(tried)} of {len(documented)} operations, {total} cases, seed {SEED}")
    problems = [f"[{r.name}] {op} — {check}: {title}\n    {how}" for r in runs for (op, check, title), how in sorted(r.failures.items())]
    problems += [f"[{r.name}] {e}" for r in runs for e in r.errors]
    problems += [f"[{r.name}] stopped: {r.stop_reason}" for r in runs if r.stop_reason != "completed"]
    if any(check == "not_a_server_error" for r in runs for (_, check, _) in r.failures):
        tracebacks = ["Traceback" + t[:3000] for t in server.log.read_text().split("Traceback")[1:]]
        problems.append("server log, the last tracebacks:\n" + "\n".join(tracebacks[-2:]))
    assert not problems, f"{len(problems)} findings:\n" + "\n".join(problems)
