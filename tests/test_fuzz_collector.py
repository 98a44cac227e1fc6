"""Fuzzing a running collector (a real `sightline serve` process) from its own OpenAPI document.

Schemathesis reads the document the server serves at /v1/openapi.json (the test checks
the served copy is that one), generates valid and invalid requests for every operation,
sends them over HTTP and checks each answer: never a 5xx, only documented status codes,
content types, headers and bodies, and auth really enforced. Runs once on SQLite and
once on PostgreSQL. (Schemathesis's lazy fixture loader does not run under pytest 9, so
the schema is loaded eagerly from py_core.collector.openapi.)
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import jsonschema_rs
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import checks as st_checks

from py_core import envelope, keys
from py_core.collector import openapi

ROOT = Path(__file__).resolve().parent.parent
TOKEN = secrets.token_urlsafe(16)
AUTH = {"Authorization": f"Bearer {TOKEN}"}
EXAMPLES = int(os.environ.get("SIGHTLINE_FUZZ_EXAMPLES", "60"))
#: The alert policy the fuzzed server runs with (its webhook is a closed local port).
POLICY = {"site": "Fuzz", "fields": ["sid", "page", "bucket"],
          "rules": [{"name": "errors", "metric": "errors", "at_least": 1},
                    {"name": "frustrated", "metric": "frustration", "at_least": 0.6}],
          "webhooks": [{"format": "slack", "url": "http://127.0.0.1:9/hook"}]}


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def live_url(request, tmp_path_factory):
    """A running collector on a free port, rate limits off so every request reaches a handler."""
    db = (str(tmp_path_factory.mktemp("fuzz") / "fuzz.db") if request.param == "sqlite"
          else request.getfixturevalue("postgres").new_database())
    port = _free_port()
    logdir = tmp_path_factory.mktemp("fuzzlog")
    log = logdir / "serve.log"
    (logdir / "alerts.json").write_text(json.dumps(POLICY))  # the team routes run with an alert policy loaded
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "py_core.cli", "serve", "--db", db, "--port", str(port),
                                 "--token", TOKEN, "--no-rate-limit", "--log-level", "warning"],
                                cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                                env={**os.environ, "SIGHTLINE_ALERTS": str(logdir / "alerts.json")})
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        assert proc.poll() is None, log.read_text()
        try:
            urllib.request.urlopen(url + "/v1/health", timeout=1)
            break
        except OSError:
            assert time.monotonic() < deadline, "collector did not start"
            time.sleep(0.1)
    pair = keys.generate()  # a few real sessions so reads have something to return
    for seq in range(3):
        env = envelope.seal({"events": []}, pair.public, sid="sess-fuzz1", pid="page-fuzz1", seq=seq)
        urllib.request.urlopen(urllib.request.Request(url + "/v1/ingest", data=json.dumps(env).encode()), timeout=10)
    yield url
    proc.terminate()
    proc.wait(15)
    text = log.read_text()
    assert "Traceback" not in text, text[-3000:]


DOCUMENT = openapi.spec(openapi.TEAM_PATHS)  # what `sightline serve` serves (core + team routes)
# The live stream is a long-lived server-sent-events response: not something to fuzz.
schema = schemathesis.openapi.from_dict(DOCUMENT).exclude(path="/v1/live/{sid}")
CHECKS = [st_checks.not_a_server_error, st_checks.status_code_conformance, st_checks.content_type_conformance,
          st_checks.response_headers_conformance, st_checks.response_schema_conformance,
          st_checks.ignored_auth, st_checks.negative_data_rejection, st_checks.unsupported_method]


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_openapi_fuzz_against_running_server(case, live_url):
    """Every generated request gets a documented, schema-conformant answer; no 5xx; auth enforced."""
    case.call_and_validate(base_url=live_url, headers=AUTH, checks=CHECKS, timeout=30)


# --- the open alert route with a policy loaded: arbitrary JSON, surrogates, huge numbers ---------

_text = st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x10FFFF), max_size=12) | st.text(
    alphabet=st.characters(categories=["Cs"]), min_size=1, max_size=3)  # lone surrogates, often
_number = st.integers(min_value=-10 ** 500, max_value=10 ** 500) | st.integers(min_value=-5, max_value=5) | st.floats()
_scalar = st.none() | st.booleans() | _number | _text | st.sampled_from(
    ["errors", "frustrated", "frustration", "sess-fuzz0001", "/a/b", "mobile"])
_junk = st.recursive(_scalar, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_text, inner, max_size=3),
                     max_leaves=8)
_rule = st.sampled_from([("errors", "errors"), ("frustrated", "frustration")])


@st.composite
def _near_valid(draw):
    """A well-formed alert with one or two parts replaced by junk (or a junk field name added)."""
    name, metric = draw(_rule)
    alert = {"rule": name, "metric": metric, "value": draw(_number), "threshold": draw(_number)}
    for key in draw(st.lists(st.sampled_from(["rule", "metric", "value", "threshold", "sid", "page", "bucket"]),
                             max_size=2)):
        alert[key] = draw(_junk)
    if draw(st.booleans()):
        alert[draw(_text)] = draw(_junk)
    return alert


_alert_bodies = _near_valid() | st.dictionaries(_text, _junk, max_size=5) | _junk


def _post_alert(url: str, body: bytes) -> tuple[int, bytes]:
    req = urllib.request.Request(url + "/v1/alerts", data=body, method="POST", headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


@settings(max_examples=EXAMPLES * 3, deadline=None, suppress_health_check=list(HealthCheck))
@given(obj=_alert_bodies)
def test_alert_route_never_5xx_on_arbitrary_json(live_url, obj):
    """POST /v1/alerts with a policy loaded answers 2xx or a 4xx JSON error to any JSON at all."""
    body = json.dumps(obj, ensure_ascii=True).encode()  # lone surrogates travel as \\udXXX escapes
    status, answer = _post_alert(live_url, body)
    assert status in (200, 202, 400, 413, 429), (status, answer[:300])
    parsed = json.loads(answer)
    if status >= 400:
        assert parsed["error"] in ("bad_alert", "bad_json", "too_large", "rate_limited"), parsed


def test_served_openapi_document_is_the_fuzzed_one(live_url):
    """GET /v1/openapi.json on the running server is the document the fuzz run uses."""
    with urllib.request.urlopen(f"{live_url}/v1/openapi.json", timeout=10) as r:
        assert r.headers["content-type"] == "application/json" and json.loads(r.read()) == DOCUMENT


def test_every_served_v1_route_is_documented(tmp_path):
    """Every /v1 route and method `sightline serve` mounts (core and team routes) is in the OpenAPI document."""
    from starlette.routing import Route

    from py_core.collector.app import create_app
    from py_core.collector.store import SQLiteStore
    from py_core.collector.team import routes as team_routes

    store = SQLiteStore(tmp_path / "doc.db")
    app = create_app(store, token=TOKEN, extra_routes=team_routes(store), extra_openapi=openapi.TEAM_PATHS)
    served = {(r.path, m.lower()) for r in app.routes if isinstance(r, Route) and r.path.startswith("/v1/")
              and r.include_in_schema for m in r.methods if m != "HEAD"}  # not the /v1 fallback (404/405)
    documented = {(path, method) for path, item in DOCUMENT["paths"].items() for method in item}
    assert served == documented
    store.close()


# --- the document agrees with the validator -------------------------------------------------

_SCHEMA = openapi.spec()["components"]["schemas"]["Envelope"]
_VALIDATOR = jsonschema_rs.validator_for(_SCHEMA)
_pair = keys.generate()
_REAL = envelope.seal({"events": [{"t": 1}]}, _pair.public, sid="sess-0001", pid="page-0001", seq=0, ts=5)
_field_values = {
    "v": st.sampled_from([1, 2, 0, "1", True, None]),
    "id": st.sampled_from([_REAL["id"], "x" * 15, "x" * 16, "x" * 64, "x" * 65, "bad id!" * 3, 7]),
    "kid": st.sampled_from([_REAL["kid"], "0" * 15, "A" * 16, None]),
    "sid": st.sampled_from(["sess-0001", "s" * 7, "s" * 64, "s" * 65, "sess 0001", []]),
    "pid": st.sampled_from(["page-0001", "p" * 7, "p" * 65, 3]),
    "seq": st.sampled_from([0, -1, envelope.MAX_SEQ, envelope.MAX_SEQ + 1, "0", False]),
    "ts": st.sampled_from([0, -1, envelope.MAX_TS, envelope.MAX_TS + 1, None]),
    "ct": st.sampled_from([_REAL["ct"], "A" * 63, "A" * 64, "A" * 65, "A" * 66, "A" * 67, "A" * 68,
                           "A" * 64 + "=", "A+" * 40, 5]),
}


@settings(max_examples=300, deadline=None)
@given(obj=st.fixed_dictionaries({}, optional={**_field_values, "extra": st.just(1)}))
def test_openapi_envelope_schema_matches_validator(obj):
    """The OpenAPI Envelope schema accepts exactly what py_core.envelope.validate accepts."""
    try:
        envelope.validate(obj)
        accepted = True
    except envelope.EnvelopeError:
        accepted = False
    assert _VALIDATOR.is_valid(obj) == accepted, obj
