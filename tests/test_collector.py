"""The collector app (py_core.collector.app): ingest, reads, CORS, limits, OpenAPI, a real server.

Tests that take `store` run once on SQLite and once on a real PostgreSQL (conftest's
`store_target`); storage itself is tested in test_store.py.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from py_core import envelope, keys
from py_core.collector.app import RateLimiter, TokenCheck, create_app
from py_core.collector.store import SQLiteStore, open_store

TOKEN = "test-token-secret"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def pair():
    return keys.generate()


@pytest.fixture
def store(store_target):
    s = open_store(store_target)
    yield s
    s.close()


@pytest.fixture
def client(store):
    with TestClient(create_app(store, token=TOKEN, rate_limit=None)) as c:
        yield c


def seal(pair, sid="sess-0001", pid="page_0001", seq=0, ts=1_700_000_000_000, **payload):
    return envelope.seal(payload or {"events": [{"t": 3, "ts": ts}]}, pair.public, sid=sid, pid=pid, seq=seq, ts=ts)


# --- ingest --------------------------------------------------------------------------


def test_ingest_stores_once_and_reports_duplicates(client, store, pair):
    """201 on first ingest, 200 duplicate=true on a retry, stored once."""
    env = seal(pair)
    r = client.post("/v1/ingest", json=env)
    assert r.status_code == 201 and r.json() == {"ok": True, "id": env["id"], "duplicate": False}
    r = client.post("/v1/ingest", json=env)
    assert r.status_code == 200 and r.json() == {"ok": True, "id": env["id"], "duplicate": True}
    assert store.count() == 1


def test_ingest_accepts_text_plain_and_any_content_type(client, pair):
    """sendBeacon's text/plain body (and no content type at all) is accepted."""
    for ctype in ("text/plain;charset=UTF-8", "application/octet-stream", None):
        env = seal(pair)
        headers = {"Content-Type": ctype} if ctype else {}
        r = client.post("/v1/ingest", content=json.dumps(env).encode(), headers=headers)
        assert r.status_code == 201, (ctype, r.text)


def test_ingest_same_id_different_content_is_409(client, store, pair):
    """Reusing an id for other content is an id_conflict, and the first stays."""
    env = seal(pair)
    other = seal(pair, seq=1)
    assert client.post("/v1/ingest", json=env).status_code == 201
    r = client.post("/v1/ingest", json={**other, "id": env["id"]})
    assert r.status_code == 409 and r.json()["error"] == "id_conflict"
    assert store.session("sess-0001")[0]["ct"] == env["ct"] and store.count() == 1


@pytest.mark.parametrize("body,code", [
    (b"", "bad_json"), (b"{", "bad_json"), (b"\xff\xfe\x00", "bad_json"), (b"[]", "not_object"),
    (b'"x"', "not_object"), (b"null", "not_object"), (b"{}", "bad_version"), (b'{"v": 2}', "bad_version"),
    (b'{"v": 1, "id": 5}', "bad_field:id"), (b'{"v": 1e400}', "bad_version"), (b'{"v": 1, "\xc3\xa9": 0}', "unknown_field:?"),
    (b'{"v": 1, "id": "' + "\u00e9".encode() * 20 + b'"}', "bad_field:id"),
    (b"[" * 50_000, "bad_json"), (b"9" * 10_000, "bad_json"), (b'{"v":1,"v":1}', "bad_json"),
])
def test_ingest_rejects_malformed_bodies_with_400(client, body, code):
    """Malformed bodies get 400 JSON {error, detail} with the envelope error code."""
    r = client.post("/v1/ingest", content=body, headers={"Content-Type": "text/plain"})
    assert r.status_code == 400 and r.headers["content-type"].startswith("application/json")
    assert r.json()["error"] == code and isinstance(r.json()["detail"], str)


def test_ingest_field_errors_name_the_field(client, pair):
    """A bad header field is reported as bad_field:<name>; unknown fields as unknown_field:<name>."""
    env = seal(pair)
    assert client.post("/v1/ingest", json={**env, "seq": -1}).json()["error"] == "bad_field:seq"
    assert client.post("/v1/ingest", json={**env, "ts": True}).json()["error"] == "bad_field:ts"
    assert client.post("/v1/ingest", json={**env, "sid": "x"}).json()["error"] == "bad_field:sid"
    assert client.post("/v1/ingest", json={**env, "extra": 1}).json()["error"] == "unknown_field:extra"


def test_ingest_size_limit_by_header_and_by_stream(store, pair):
    """Bodies over max_body get 413, whether announced by Content-Length or streamed chunked."""
    with TestClient(create_app(store, token=TOKEN, max_body=2048, rate_limit=None)) as c:
        assert c.post("/v1/ingest", json=seal(pair)).status_code == 201
        r = c.post("/v1/ingest", content=b"x" * 4096)
        assert r.status_code == 413 and r.json()["error"] == "too_large"

        def chunks():
            for _ in range(10):
                yield b"y" * 1000

        r = c.post("/v1/ingest", content=chunks())
        assert r.status_code == 413 and r.json()["error"] == "too_large"
        r = c.post("/v1/ingest", content=b"z" * (2048 + 65536 + 1))  # beyond the drain allowance
        assert r.status_code == 413 and r.json()["error"] == "too_large"
        r = c.post("/v1/ingest", content=b"{}", headers={"Content-Length": "9" * 40})
        assert r.status_code == 413
    assert store.count() == 1


def test_ingest_oversize_ct_is_413(client, pair):
    """A ct beyond MAX_CT_CHARS (inside the body limit) is too_large with 413."""
    env = {**seal(pair), "ct": "A" * (envelope.MAX_CT_CHARS + 4)}
    r = client.post("/v1/ingest", content=json.dumps(env))
    assert r.status_code == 413 and r.json()["error"] == "too_large"


def test_ingest_wrong_methods_are_json_405(client):
    """GET or PUT on /v1/ingest is a JSON 405; unknown /v1 paths a JSON 404."""
    r = client.get("/v1/ingest")
    assert r.status_code == 405 and r.json()["error"] == "method_not_allowed"
    assert client.put("/v1/ingest", content=b"{}").status_code == 405
    r = client.get("/v1/nope")
    assert r.status_code == 404 and r.json()["error"] == "not_found"
    assert client.options("/v1/ingest").status_code == 204


def test_cors_preflight_and_simple_requests(store, pair):
    """Ingest answers CORS preflights and posts from allowed origins only."""
    with TestClient(create_app(store, token=TOKEN, rate_limit=None)) as c:
        r = c.options("/v1/ingest", headers={"Origin": "https://shop.example", "Access-Control-Request-Method": "POST",
                                             "Access-Control-Request-Headers": "content-type"})
        assert r.status_code == 200 and r.headers["access-control-allow-origin"] == "*"
        assert "POST" in r.headers["access-control-allow-methods"]
        r = c.post("/v1/ingest", json=seal(pair), headers={"Origin": "https://shop.example"})
        assert r.status_code == 201 and r.headers["access-control-allow-origin"] == "*"
    app = create_app(store, token=TOKEN, cors_origins=("https://shop.example",), rate_limit=None)
    with TestClient(app) as c:
        ok = c.options("/v1/ingest", headers={"Origin": "https://shop.example", "Access-Control-Request-Method": "POST"})
        assert ok.status_code == 200 and ok.headers["access-control-allow-origin"] == "https://shop.example"
        bad = c.options("/v1/ingest", headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})
        assert bad.status_code == 400 and "access-control-allow-origin" not in bad.headers
        r = c.post("/v1/ingest", json=seal(pair), headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in r.headers


def test_rate_limit_gives_429_with_retry_after(store, pair):
    """Past the burst, ingest from one address gets 429 rate_limited with Retry-After."""
    with TestClient(create_app(store, token=TOKEN, rate_limit=(0.01, 3))) as c:
        assert [c.post("/v1/ingest", json=seal(pair)).status_code for _ in range(3)] == [201] * 3
        r = c.post("/v1/ingest", json=seal(pair))
        assert r.status_code == 429 and r.json()["error"] == "rate_limited" and int(r.headers["retry-after"]) >= 1
        assert c.get("/v1/health").status_code == 200


def test_rate_limiter_refills_and_prunes():
    """Buckets refill at the rate, are per key, and stay bounded in number."""
    now = [0.0]
    limiter = RateLimiter(2.0, 2, max_keys=10, clock=lambda: now[0])
    assert [limiter.allow("a")[0] for _ in range(3)] == [True, True, False]
    assert limiter.allow("b")[0]
    now[0] += 0.5
    assert limiter.allow("a") == (True, 0.0) and not limiter.allow("a")[0]
    for i in range(100):
        limiter.allow(f"k{i}")
        now[0] += 0.001
    assert len(limiter._buckets) <= 10


def test_site_rate_limit_is_per_kid(pair):
    """Past a site key's burst its envelopes get 429 naming the site key; other keys still pass."""
    other = keys.generate()
    with TestClient(create_app(SQLiteStore(":memory:"), token=TOKEN, rate_limit=None, site_rate_limit=(0.01, 2))) as c:
        assert [c.post("/v1/ingest", json=seal(pair, seq=i)).status_code for i in range(2)] == [201, 201]
        r = c.post("/v1/ingest", json=seal(pair, seq=2))
        assert r.status_code == 429 and "site key" in r.json()["detail"] and int(r.headers["retry-after"]) >= 1
        assert c.post("/v1/ingest", json=seal(other, seq=3)).status_code == 201


def test_only_configured_kids_are_accepted(pair):
    """With kids configured, an envelope sealed to any other key is a 403 unknown_kid and is not stored."""
    store = SQLiteStore(":memory:")
    stranger = keys.generate()
    with TestClient(create_app(store, token=TOKEN, rate_limit=None, kids=[pair.kid])) as c:
        assert c.post("/v1/ingest", json=seal(pair)).status_code == 201
        r = c.post("/v1/ingest", json=seal(stranger))
        assert r.status_code == 403 and r.json()["error"] == "unknown_kid" and stranger.kid in r.json()["detail"]
    assert store.count() == 1
    with pytest.raises(ValueError):
        create_app(store, token=TOKEN, kids=["short"])


@pytest.mark.parametrize("enc", [bytes(32), b"\x01" + bytes(31), bytes.fromhex("ec" + "ff" * 30 + "7f"),
                                 bytes.fromhex("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800")])
def test_low_order_enc_is_rejected_as_forged(client, store, pair, enc):
    """A ct whose enc is a low-order X25519 point cannot come from HPKE: 400 forged, not stored."""
    env = seal(pair)
    sealed = keys.b64u_decode(env["ct"])
    r = client.post("/v1/ingest", json={**env, "ct": keys.b64u_encode(enc + sealed[32:])})
    assert r.status_code == 400 and r.json()["error"] == "forged" and store.count() == 0


# --- reads ---------------------------------------------------------------------------


def test_token_check_is_exact_for_any_length_and_bytes():
    """TokenCheck accepts exactly the configured tokens (several for rotation), whatever the length or bytes."""
    check = TokenCheck(["first-token", "second-token-longer"])
    assert check(b"first-token") and check(b"second-token-longer")
    for wrong in (b"", b"first-toke", b"first-tokenX", b"FIRST-TOKEN", b"second-token-longe", b"\xff" * 11, b"x" * 10_000):
        assert not check(wrong)
    assert not check.__dict__.get("tokens") and all(len(d) == 32 for d in check._digests)  # digests only
    for bad in ("", [], [""], [None]):
        with pytest.raises(ValueError):
            TokenCheck(bad)


def test_several_read_tokens_work_side_by_side(store):
    """create_app takes several tokens (rotation): each reads, anything else is 401."""
    with TestClient(create_app(store, token=["old-token", "new-token"], rate_limit=None)) as c:
        for token, status in (("old-token", 200), ("new-token", 200), ("old-token new-token", 401), ("new", 401)):
            assert c.get("/v1/sessions", headers={"Authorization": f"Bearer {token}"}).status_code == status


def test_reads_need_the_bearer_token(client):
    """Reads without, or with a wrong or non-ASCII token get a JSON 401."""
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN},
                    {"Authorization": f"Basic {TOKEN}"}, {"Authorization": "Bearer"},
                    {"Authorization": "Bearer é✓".encode()}):
        for path in ("/v1/sessions", "/v1/sessions/sess-0001"):
            r = client.get(path, headers=headers)
            assert r.status_code == 401 and r.json()["error"] == "unauthorized"
            assert r.headers["www-authenticate"] == "Bearer"
    assert client.get("/v1/sessions", headers={"Authorization": f"bearer  {TOKEN} "}).status_code == 200


def test_health(client):
    """GET /v1/health is open and says ok."""
    r = client.get("/v1/health")
    assert r.status_code == 200 and r.json() == {"ok": True}


def test_sessions_list_newest_first_with_counts(client, pair):
    """GET /v1/sessions summarizes each session, newest last_ts first."""
    sent = [seal(pair, "sess-old1", "page_a001", 0, 1000), seal(pair, "sess-old1", "page_a001", 1, 2000),
            seal(pair, "sess-old1", "page_b001", 0, 3000), seal(pair, "sess-new1", "page_c001", 0, 5000)]
    for env in sent:
        assert client.post("/v1/ingest", json=env).status_code == 201
    client.post("/v1/ingest", json=sent[0])  # a duplicate changes nothing
    r = client.get("/v1/sessions", headers=AUTH)
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    sessions = r.json()["sessions"]
    assert [s["sid"] for s in sessions] == ["sess-new1", "sess-old1"]
    old = sessions[1]
    size = sum(len(keys.b64u_decode(e["ct"])) for e in sent[:3])
    assert old == {"sid": "sess-old1", "first_ts": 1000, "last_ts": 3000, "envelopes": 3, "bytes": size, "pages": 2}
    assert [s["sid"] for s in client.get("/v1/sessions?limit=1&offset=1", headers=AUTH).json()["sessions"]] == ["sess-old1"]
    for query in ("limit=0", "limit=x", "offset=-1", "limit=99999999999999999999"):
        r = client.get(f"/v1/sessions?{query}", headers=AUTH)
        assert r.status_code == 400 and r.json()["error"] == "bad_query"


def test_session_detail_ordered_as_received_plus_received(client, pair):
    """GET /v1/sessions/{sid} returns the envelopes as sent plus received, by (ts, pid, seq)."""
    sent = [seal(pair, pid="page_b001", seq=0, ts=2000), seal(pair, pid="page_a001", seq=1, ts=2000),
            seal(pair, pid="page_a001", seq=0, ts=2000), seal(pair, pid="page_a001", seq=2, ts=1000)]
    before = int(time.time() * 1000)
    for env in sent:
        client.post("/v1/ingest", json=env)
    r = client.get("/v1/sessions/sess-0001", headers=AUTH)
    assert r.status_code == 200
    body = r.json()
    assert body["sid"] == "sess-0001"
    got = body["envelopes"]
    assert [(e["ts"], e["pid"], e["seq"]) for e in got] == [
        (1000, "page_a001", 2), (2000, "page_a001", 0), (2000, "page_a001", 1), (2000, "page_b001", 0)]
    by_id = {e["id"]: e for e in sent}
    for e in got:
        received = e.pop("received")
        assert before <= received <= int(time.time() * 1000) + 1
        assert e == by_id[e["id"]] and list(e) == list(envelope.FIELDS)
        assert envelope.open_envelope(e, {pair.kid: pair.private})["events"][0]["ts"] == e["ts"]


def test_unknown_session_is_json_404(client):
    """An unknown or malformed sid is a JSON 404."""
    for sid in ("sess-none", "x", "a" * 65, "%E2%9C%93"):
        r = client.get(f"/v1/sessions/{sid}", headers=AUTH)
        assert r.status_code == 404 and r.json()["error"] in ("unknown_session", "not_found")


# --- static site and demo --------------------------------------------------------------


def test_static_site_and_demo_routes(tmp_path, store, pair):
    """site_dir is served at / after the API; demo routes answer products and a deliberate 500."""
    site = tmp_path / "site"
    (site / "viewer").mkdir(parents=True)
    (site / "index.html").write_text("<h1>home</h1>")
    (site / "viewer" / "index.html").write_text("<h1>viewer</h1>")
    with TestClient(create_app(store, token=TOKEN, site_dir=str(site), demo=True, rate_limit=None),
                    raise_server_exceptions=False) as c:
        assert c.get("/").text == "<h1>home</h1>"
        assert c.get("/viewer/").text == "<h1>viewer</h1>"
        assert c.get("/missing.js").status_code == 404
        assert c.get("/v1/health").json() == {"ok": True}
        assert c.post("/v1/ingest", json=seal(pair)).status_code == 201
        products = c.get("/demo/api/products")
        assert products.status_code == 200 and isinstance(products.json(), list) and products.json()
        assert all({"id", "name", "price"} <= set(p) for p in products.json())
        r = c.post("/demo/api/checkout", json={"items": ["p-100"]})
        assert r.status_code == 500 and r.json() == {"error": "payment service unavailable"}
    with TestClient(create_app(store, token=TOKEN, rate_limit=None)) as c:
        assert c.get("/demo/api/products").status_code == 404 and c.get("/").status_code == 404


def test_openapi_document_served_and_extensible(store):
    """GET /v1/openapi.json describes every /v1 route; extra routes and their docs plug in before the site."""
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def notes(request):
        if not request.app.state.token_check.request_ok(request):
            return JSONResponse({"error": "unauthorized", "detail": ""}, status_code=401)
        return JSONResponse({"count": request.app.state.store.count()})

    extra = {"/v1/notes": {"get": {"operationId": "notes", "responses": {"200": {"description": "notes"}}}}}
    app = create_app(store, token=TOKEN, rate_limit=None, extra_routes=[Route("/v1/notes", notes)], extra_openapi=extra)
    with TestClient(app) as c:
        doc = c.get("/v1/openapi.json").json()
        assert doc["openapi"].startswith("3.1") and doc["paths"]["/v1/notes"] == extra["/v1/notes"]
        routes = {r.path for r in app.routes if hasattr(r, "methods") and r.include_in_schema}  # not the /v1 fallback
        assert {p for p in doc["paths"]} == routes
        assert set(doc["paths"]["/v1/ingest"]["post"]["responses"]) >= {"200", "201", "400", "403", "409", "413", "429", "503"}
        assert c.get("/v1/notes").status_code == 401
        assert c.get("/v1/notes", headers=AUTH).json() == {"count": 0}


def test_cors_origin_regex(store, pair):
    """cors_origin_regex allows matching origins only."""
    app = create_app(store, token=TOKEN, cors_origins=(), cors_origin_regex=r"https://([a-z]+\.)?shop\.example",
                     rate_limit=None)
    with TestClient(app) as c:
        for origin, allowed in (("https://eu.shop.example", True), ("https://shop.example", True),
                                ("https://shop.example.evil", False), ("http://shop.example", False)):
            r = c.post("/v1/ingest", json=seal(pair), headers={"Origin": origin})
            assert r.status_code == 201 and (r.headers.get("access-control-allow-origin") == origin) == allowed


def test_create_app_requires_a_token(store):
    """An empty token is refused at construction."""
    with pytest.raises(ValueError):
        create_app(store, token="")


def test_store_failure_is_503_not_500(pair):
    """A storage error answers 503 store_unavailable with Retry-After (retryable), for writes and reads."""
    class Broken:
        def put(self, env, received):
            raise sqlite3.OperationalError("disk I/O error")

        sessions = session = put

    with TestClient(create_app(Broken(), token=TOKEN, rate_limit=None)) as c:
        for r in (c.post("/v1/ingest", json=seal(pair)), c.get("/v1/sessions", headers=AUTH),
                  c.get("/v1/sessions/sess-0001", headers=AUTH)):
            assert r.status_code == 503 and r.json()["error"] == "store_unavailable" and r.headers["retry-after"] == "5"


def test_postgres_going_away_is_503_then_recovers(postgres, pair):
    """With its PostgreSQL connections killed, ingest answers 503 or stores; a retry then stores once."""
    import psycopg

    url = postgres.new_database()
    s = open_store(url)
    try:
        with TestClient(create_app(s, token=TOKEN, rate_limit=None), raise_server_exceptions=False) as c:
            assert c.post("/v1/ingest", json=seal(pair)).status_code == 201
            with psycopg.connect(postgres.url, autocommit=True) as admin:
                admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = 'sightline'")
            env = seal(pair, seq=1)
            codes = [c.post("/v1/ingest", json=env).status_code for _ in range(3)]
            assert codes[0] in (201, 503) and 201 in codes and set(codes) <= {200, 201, 503}
            assert s.count() == 2
    finally:
        s.close()


# --- never a 500 -----------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=8), children, max_size=6),
    max_leaves=20,
)
envelope_like = st.fixed_dictionaries(
    {"v": st.just(1)},
    optional={
        "id": st.text(max_size=70) | st.integers(), "kid": st.text(max_size=20), "sid": st.text(max_size=70),
        "pid": st.text(max_size=70), "seq": st.integers() | st.floats() | st.booleans() | st.text(max_size=5),
        "ts": st.integers() | st.floats(), "ct": st.text(alphabet="AZaz09-_=+/ é", max_size=200), "x": json_values,
    },
)


@pytest.fixture(scope="module")
def fuzz_client(tmp_path_factory):
    s = SQLiteStore(tmp_path_factory.mktemp("fuzz") / "f.db")
    with TestClient(create_app(s, token=TOKEN, rate_limit=None), raise_server_exceptions=False) as c:
        yield c
    s.close()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=json_values | envelope_like)
def test_ingest_never_500_on_arbitrary_json(fuzz_client, value):
    """Any JSON value posted to /v1/ingest gets a JSON 4xx (or 2xx), never a 5xx."""
    r = fuzz_client.post("/v1/ingest", content=json.dumps(value).encode(), headers={"Content-Type": "text/plain"})
    assert r.status_code < 500 and "error" in r.json()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.binary(max_size=300) | st.text(max_size=300).map(lambda t: t.encode("utf-8", "surrogatepass")))
def test_ingest_never_500_on_arbitrary_bytes(fuzz_client, body):
    """Any byte string posted to /v1/ingest gets a 4xx JSON answer, never a 5xx."""
    r = fuzz_client.post("/v1/ingest", content=body)
    assert 400 <= r.status_code < 500 and r.json()["error"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sid=st.text(max_size=80), auth=st.text(max_size=40))
def test_reads_never_500_on_arbitrary_ids_and_tokens(fuzz_client, sid, auth):
    """Arbitrary session ids and Authorization values never produce a 5xx."""
    from urllib.parse import quote

    header = b"Bearer " + auth.encode("utf-8", "surrogatepass").replace(b"\r", b"").replace(b"\n", b"")
    r = fuzz_client.get(f"/v1/sessions/{quote(sid, safe='')}", headers={"Authorization": header})
    assert r.status_code < 500
    r = fuzz_client.get(f"/v1/sessions/{quote(sid, safe='')}", headers=AUTH)
    assert r.status_code in (200, 404)


# --- a real server -------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(method, url, body=None, headers=None):
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def wait_healthy(url, proc, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server exited: {proc.stdout.read() if proc.stdout else ''}")
        try:
            if http("GET", f"{url}/v1/health")[0] == 200:
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("server did not become healthy")


def test_real_server_over_http(tmp_path, pair):
    """`sightline serve` in a subprocess ingests over real HTTP and persists to its SQLite file."""
    port, db = free_port(), tmp_path / "real.db"
    keys.save(pair, tmp_path / "team.key")
    cmd = [sys.executable, "-m", "py_core.cli", "serve", "--db", str(db), "--port", str(port),
           "--key", str(tmp_path / "team.key"), "--token", TOKEN, "--log-level", "warning"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, proc)
        env = seal(pair, sid="sess-real1")
        body = json.dumps(env).encode()
        assert http("POST", f"{url}/v1/ingest", body, {"Content-Type": "text/plain;charset=UTF-8"}) == (
            201, {"ok": True, "id": env["id"], "duplicate": False})
        assert http("POST", f"{url}/v1/ingest", body)[1]["duplicate"] is True
        status, err = http("POST", f"{url}/v1/ingest", b'{"v": 1, "id": "x"}')
        assert status == 400 and err["error"] == "bad_field:id"
        status, err = http("POST", f"{url}/v1/ingest", b"x" * (envelope.MAX_ENVELOPE_BYTES + 10))
        assert status == 413 and err["error"] == "too_large"
        assert http("GET", f"{url}/v1/sessions")[0] == 401
        status, data = http("GET", f"{url}/v1/sessions/sess-real1", headers=AUTH)
        assert status == 200 and [e["id"] for e in data["envelopes"]] == [env["id"]]
        assert envelope.open_envelope({k: v for k, v in data["envelopes"][0].items() if k != "received"},
                                      {pair.kid: pair.private}) == {"events": [{"t": 3, "ts": env["ts"]}]}
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=15)
    assert f"kid     {pair.kid}" in out and f"http://127.0.0.1:{port}/" in out
    assert TOKEN not in out  # a given token is never echoed
    rows = sqlite3.connect(db).execute("SELECT id, sid FROM envelopes").fetchall()
    assert rows == [(env["id"], "sess-real1")]


def test_real_server_rate_limits_per_forwarded_client_only_when_trusted(tmp_path, pair):
    """With --forwarded-allow-ips each X-Forwarded-For address has its own bucket; without it, forged headers share one."""
    for trusted in (True, False):
        port = free_port()
        cmd = [sys.executable, "-m", "py_core.cli", "serve", "--db", str(tmp_path / f"rl{trusted}.db"), "--port", str(port),
               "--token", TOKEN, "--log-level", "warning", "--rate-limit", "0.01/2", "--site-rate-limit", "off"]
        if trusted:
            cmd += ["--forwarded-allow-ips", "127.0.0.1"]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        url = f"http://127.0.0.1:{port}"
        try:
            wait_healthy(url, proc)

            def post(addr, seq):
                return http("POST", f"{url}/v1/ingest", json.dumps(seal(pair, seq=seq)).encode(),
                            {"X-Forwarded-For": addr})[0]

            assert [post("203.0.113.5", i) for i in range(3)] == [201, 201, 429]
            assert post("203.0.113.9", 3) == (201 if trusted else 429)
        finally:
            proc.terminate()
            proc.communicate(timeout=15)


def test_serve_options_fail_clearly(tmp_path, capsys):
    """`sightline serve` refuses a bad rate, an unknown store URL or an unreachable PostgreSQL with a clear message."""
    from py_core import cli

    with pytest.raises(SystemExit):
        cli.main(["serve", "--rate-limit", "fast"])
    assert "expected RATE/BURST" in capsys.readouterr().err
    assert cli.main(["serve", "--db", "mysql://h/db", "--token", TOKEN]) == 1
    assert "unsupported store URL scheme" in capsys.readouterr().err
    assert cli.main(["serve", "--db", "postgresql://u:pw-secret@127.0.0.1:1/db", "--token", TOKEN]) == 1
    err = capsys.readouterr().err
    assert "cannot open PostgreSQL store postgresql://u:***@127.0.0.1:1/db" in err and "pw-secret" not in err
    assert cli._rate("off") is None and cli._rate("2.5/10") == (2.5, 10)
    for bad in ("0/10", "5/0", "5", "x/y"):
        with pytest.raises(Exception, match="RATE/BURST"):
            cli._rate(bad)


def _slow_post(port: int, sent: bytes = b'{"v": 1', declared: int = 1000):
    conn = socket.create_connection(("127.0.0.1", port), timeout=30)
    conn.sendall(b"POST /v1/ingest HTTP/1.1\r\nHost: t\r\nContent-Type: text/plain\r\n"
                 b"Content-Length: %d\r\n\r\n%s" % (declared, sent))
    return conn


def test_real_server_slow_senders_get_408_and_concurrency_is_bounded(tmp_path):
    """A body that does not arrive in time is 408 request_timeout; past --limit-concurrency the server sheds with 503."""
    port = free_port()
    cmd = [sys.executable, "-m", "py_core.cli", "serve", "--db", str(tmp_path / "slow.db"), "--port", str(port),
           "--token", TOKEN, "--log-level", "warning", "--body-timeout", "2", "--limit-concurrency", "3"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, proc)
        started = time.monotonic()
        slow = [_slow_post(port) for _ in range(2)]
        time.sleep(0.5)
        assert http_status(f"{url}/v1/health") == 503  # two slow senders and this request fill the 3 slots
        answers = [_read_response(s) for s in slow]
        assert 1.5 < time.monotonic() - started < 20
        for answer in answers:
            head, _, body = answer.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 408") and json.loads(body)["error"] == "request_timeout"
        for s in slow:
            s.close()
        assert http_status(f"{url}/v1/health") == 200
    finally:
        proc.terminate()
        proc.communicate(timeout=15)


def _read_response(conn) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data or len(data.partition(b"\r\n\r\n")[2]) < int(
            data.lower().partition(b"content-length: ")[2].split(b"\r\n")[0] or 0):
        chunk = conn.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def http_status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_two_collector_processes_share_one_postgres(postgres, pair):
    """Two `sightline serve` processes started together on one fresh PostgreSQL schema store each envelope once."""
    from concurrent.futures import ThreadPoolExecutor

    url_db = postgres.new_database()
    procs, urls = [], []
    for _ in range(2):
        port = free_port()
        procs.append(subprocess.Popen([sys.executable, "-m", "py_core.cli", "serve", "--db", url_db, "--port", str(port),
                                       "--token", TOKEN, "--no-rate-limit", "--log-level", "warning"],
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
        urls.append(f"http://127.0.0.1:{port}")
    try:
        for url, proc in zip(urls, procs):
            wait_healthy(url, proc)
        bodies = [json.dumps(seal(pair, sid=f"sess-multi{i % 3}", seq=i)).encode() for i in range(60)]
        jobs = [(url, body) for body in bodies for url in urls]  # every envelope to both processes
        with ThreadPoolExecutor(8) as pool:
            codes = list(pool.map(lambda job: http("POST", f"{job[0]}/v1/ingest", job[1])[0], jobs))
        assert sorted(codes) == [200] * 60 + [201] * 60
        totals = [sum(s["envelopes"] for s in http("GET", f"{url}/v1/sessions", headers=AUTH)[1]["sessions"]) for url in urls]
        assert totals == [60, 60]
    finally:
        for proc in procs:
            proc.terminate()
            out, _ = proc.communicate(timeout=15)
            assert "Traceback" not in out, out[-2000:]


def test_real_server_only_key_accepts_listed_public_keys(tmp_path, pair):
    """`serve --only-key` (a public-only key file) accepts that key's envelopes and refuses others with 403."""
    pub = tmp_path / "site.pub"
    pub.write_text(json.dumps({"kid": pair.kid, "public": keys.b64u_encode(pair.public)}))
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "py_core.cli", "serve", "--db", str(tmp_path / "only.db"),
                             "--port", str(port), "--token", TOKEN, "--only-key", str(pub), "--log-level", "warning"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, proc)
        assert http("POST", f"{url}/v1/ingest", json.dumps(seal(pair)).encode())[0] == 201
        status, body = http("POST", f"{url}/v1/ingest", json.dumps(seal(keys.generate())).encode())
        assert status == 403 and body["error"] == "unknown_kid"
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=15)
    assert f"accepts {pair.kid}" in out
