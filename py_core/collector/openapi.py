"""The OpenAPI 3.1 description of the collector's ``/v1/`` API, served at ``GET /v1/openapi.json``.

Written by hand from the contract in ``docs/envelope.md`` (the envelope schema is built
from the constants in :mod:`py_core.envelope`, so limits stay in step). The fuzz suite
(``tests/test_fuzz_collector.py``) loads it from a running collector and checks every
answer against it. An extension module adds its own paths with ``create_app(...,
extra_openapi={"/v1/...": {...}})``.
"""

from __future__ import annotations

import copy
from typing import Mapping

from py_core import envelope

__all__ = ["TEAM_PATHS", "spec"]

_ERROR = {
    "type": "object",
    "required": ["error", "detail"],
    "properties": {
        "error": {"type": "string", "description": "stable machine code (docs/envelope.md)"},
        "detail": {"type": "string", "description": "human-readable explanation"},
    },
}
_ID = "^[A-Za-z0-9_-]{16,64}$"
_SID = "^[A-Za-z0-9_-]{8,64}$"
_ENVELOPE = {
    "type": "object",
    "description": "Envelope format v1 (docs/envelope.md): one HPKE-sealed batch.",
    "additionalProperties": False,
    "required": list(envelope.FIELDS),
    "properties": {
        "v": {"type": "integer", "const": envelope.VERSION},
        "id": {"type": "string", "pattern": _ID},
        "kid": {"type": "string", "pattern": "^[0-9a-f]{16}$"},
        "sid": {"type": "string", "pattern": _SID},
        "pid": {"type": "string", "pattern": _SID},
        "seq": {"type": "integer", "minimum": 0, "maximum": envelope.MAX_SEQ},
        "ts": {"type": "integer", "minimum": 0, "maximum": envelope.MAX_TS},
        "ct": {"type": "string", "pattern": "^(?:[A-Za-z0-9_-]{4})*(?:[A-Za-z0-9_-]{2,3})?$", "minLength": 64,
               "maxLength": envelope.MAX_CT_CHARS,
               "description": "base64url (no padding) of enc || ciphertext"},
    },
}
_STORED = {**copy.deepcopy(_ENVELOPE), "description": "A stored envelope plus its server receive time."}
_STORED["properties"]["received"] = {"type": "integer", "minimum": 0, "description": "server time, ms"}
_STORED["required"] = [*envelope.FIELDS, "received"]
_SUMMARY = {
    "type": "object",
    "required": ["sid", "first_ts", "last_ts", "envelopes", "bytes", "pages"],
    "additionalProperties": False,
    "properties": {
        "sid": {"type": "string", "pattern": _SID},
        "first_ts": {"type": "integer"}, "last_ts": {"type": "integer"},
        "envelopes": {"type": "integer", "minimum": 1}, "bytes": {"type": "integer", "minimum": 0},
        "pages": {"type": "integer", "minimum": 1},
        "last_received": {"type": "integer", "description": "server ms of the latest envelope (/v1/live only)"},
    },
}


def _json(schema_ref: str, description: str, headers: Mapping | None = None) -> dict:
    out = {"description": description,
           "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema_ref}"}}}}
    if headers:
        out["headers"] = dict(headers)
    return out


def _err(description: str, headers: Mapping | None = None) -> dict:
    return _json("Error", description, headers)


_RETRY_AFTER = {"Retry-After": {"description": "seconds to wait", "schema": {"type": "string", "pattern": "^[0-9]+$"}}}
_UNAUTHORIZED = _err("missing or wrong bearer token",
                     {"WWW-Authenticate": {"schema": {"type": "string", "const": "Bearer"}}})
_UNAVAILABLE = _err("storage trouble; retry later", _RETRY_AFTER)


def spec(extra_paths: Mapping[str, dict] | None = None) -> dict:
    """The OpenAPI document (a fresh dict each call); ``extra_paths`` are merged into ``paths``."""
    ingest_ok = {"type": "object", "required": ["ok", "id", "duplicate"], "additionalProperties": False,
                 "properties": {"ok": {"const": True}, "id": {"type": "string", "pattern": _ID},
                                "duplicate": {"type": "boolean"}}}
    paths: dict = {
        "/v1/health": {"get": {
            "operationId": "health", "summary": "Liveness", "security": [],
            "responses": {"200": _json("Ok", "the collector is up")},
        }},
        "/v1/ingest": {
            "post": {
                "operationId": "ingest", "security": [],
                "summary": "Store one sealed envelope (open to the world; validated, size- and rate-limited)",
                "description": "Any Content-Type is accepted (sendBeacon sends text/plain). Re-sending the "
                               "same envelope is safe: it is stored once and acknowledged as a duplicate.",
                "requestBody": {"required": True, "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/Envelope"}},
                }},
                "responses": {
                    "201": _json("IngestOk", "stored"),
                    "200": _json("IngestOk", "already stored with the same content (duplicate: true)"),
                    "400": _err("malformed envelope: bad_json, not_object, bad_version, bad_field:<name>, "
                                "unknown_field:<name>, forged, bad_request"),
                    "403": _err("unknown_kid: this collector accepts only the configured keys"),
                    "408": _err("request_timeout: the body did not arrive in time"),
                    "409": _err("id_conflict: the id is stored with different content"),
                    "413": _err("too_large: the body or ct is over the limit"),
                    "410": _err("erased: this session was erased (POST /v1/erase); not stored again, do not retry"),
                    "429": _err("rate_limited (per client address or per site key)", _RETRY_AFTER),
                    "503": _err("store_unavailable (storage trouble) or busy (the ingest queue is full); "
                                "nothing was stored, retry after Retry-After", _RETRY_AFTER),
                },
            },
            "options": {
                "operationId": "ingestOptions", "security": [], "summary": "CORS preflight / allowed methods",
                "responses": {"204": {"description": "no content; Allow: POST, OPTIONS"},
                              "200": {"description": "CORS preflight answer"},
                              "400": {"description": "CORS preflight refused (origin, method or header not allowed)"}},
            },
        },
        "/v1/sessions": {"get": {
            "operationId": "listSessions", "summary": "Sessions, newest first (team only)",
            "parameters": [
                {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 10000, "default": 1000}},
                {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0, "default": 0}},
            ],
            "responses": {"200": _json("SessionList", "session summaries"), "400": _err("bad_query"),
                          "401": _UNAUTHORIZED, "503": _UNAVAILABLE},
        }},
        "/v1/sessions/{sid}": {"get": {
            "operationId": "getSession", "summary": "A session's envelopes as received (team only)",
            "parameters": [{"name": "sid", "in": "path", "required": True, "schema": {"type": "string"}}],
            "responses": {"200": _json("Session", "the envelopes, ordered by (ts, pid, seq)"),
                          "401": _UNAUTHORIZED, "404": _err("unknown_session"), "503": _UNAVAILABLE},
        }},
        "/v1/envelopes": {"get": {
            "operationId": "listChanges",
            "summary": "Envelopes stored after a cursor, in commit order, paged (team only)",
            "description": "Start with since empty; pass `next` back as since. A page never skips or "
                           "repeats an envelope, whatever is stored meanwhile; `more` is true when the page "
                           "is full (ask again at once). Cursors are opaque and belong to one store.",
            "parameters": [
                {"name": "since", "in": "query", "schema": {"type": "string", "maxLength": 200, "default": ""}},
                {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 10000, "default": 1000}},
            ],
            "responses": {"200": _json("ChangeList", "a page of envelopes and the next cursor"),
                          "400": _err("bad_query, bad_cursor"), "401": _UNAUTHORIZED, "503": _UNAVAILABLE},
        }},
        "/v1/erase": {"post": {
            "operationId": "erase", "summary": "Erase sessions: envelopes, team notes, alert marks (team only)",
            "description": "Idempotent. Re-sent envelopes of an erased session are refused with 410 for 30 days "
                           "(the store keeps only SHA-256 of the session id).",
            "requestBody": {"required": True, "content": {"application/json": {"schema": {
                "type": "object", "required": ["sessions"], "properties": {"sessions": {
                    "type": "array", "minItems": 1, "maxItems": 10000,
                    "items": {"type": "string", "pattern": _SID}}}}}}},
            "responses": {"200": _plain("erased", {"type": "object", "required": ["ok", "sessions", "envelopes"],
                                                    "properties": {"ok": {"const": True},
                                                                   "sessions": {"type": "integer"},
                                                                   "envelopes": {"type": "integer"}}}),
                          "400": _err("bad_request"), "401": _UNAUTHORIZED, "408": _err("request_timeout"),
                          "413": _err("too_large"), "503": _UNAVAILABLE},
        }},
        "/v1/openapi.json": {"get": {
            "operationId": "openapi", "summary": "This document", "security": [],
            "responses": {"200": {"description": "OpenAPI 3.1", "content": {"application/json": {"schema": {"type": "object"}}}}},
        }},
    }
    for path, item in (extra_paths or {}).items():
        paths.setdefault(path, {}).update(copy.deepcopy(item))
    return {
        "openapi": "3.1.0",
        "info": {"title": "Sightline collector", "version": "1",
                 "description": "Stores HPKE-sealed session envelopes it cannot read. See docs/envelope.md."},
        "paths": paths,
        "security": [{"bearer": []}],
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                           "description": "the read token given to `sightline serve`"}},
            "schemas": {
                "Error": _ERROR,
                "Ok": {"type": "object", "required": ["ok"], "properties": {"ok": {"const": True}}},
                "Envelope": copy.deepcopy(_ENVELOPE),
                "StoredEnvelope": copy.deepcopy(_STORED),
                "IngestOk": ingest_ok,
                "SessionSummary": copy.deepcopy(_SUMMARY),
                "SessionList": {"type": "object", "required": ["sessions"], "properties": {
                    "sessions": {"type": "array", "items": {"$ref": "#/components/schemas/SessionSummary"}}}},
                "ChangeList": {"type": "object", "required": ["envelopes", "next", "more"], "properties": {
                    "envelopes": {"type": "array", "items": {"$ref": "#/components/schemas/StoredEnvelope"}},
                    "next": {"type": "string"}, "more": {"type": "boolean"}}},
                "Session": {"type": "object", "required": ["sid", "envelopes"], "properties": {
                    "sid": {"type": "string", "pattern": _SID},
                    "envelopes": {"type": "array", "items": {"$ref": "#/components/schemas/StoredEnvelope"}}}},
            },
        },
    }


_SID_PARAM = {"name": "sid", "in": "path", "required": True, "schema": {"type": "string"}}
_OBJ = {"type": "object"}


def _plain(description: str, schema: dict | None = None) -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema or _OBJ}}}


#: The team routes of py_core/collector/team.py (annotations, live sessions, alerts), which
#: `sightline serve` mounts with ``extra_routes``; passed as ``extra_openapi`` so the
#: served document covers all of /v1/. tests/test_fuzz_collector.py checks that every /v1
#: route `sightline serve` has is described here or in :func:`spec`.
TEAM_PATHS: dict = {
    "/v1/annotations": {
        "post": {
            "operationId": "postAnnotation", "summary": "Store a sealed team note (an envelope with pid \"annotation\")",
            "requestBody": {"required": True, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Envelope"}}}},
            "responses": {"201": _json("IngestOk", "stored"), "200": _json("IngestOk", "already stored"),
                          "400": _err("malformed envelope or pid is not \"annotation\""), "401": _UNAUTHORIZED,
                          "408": _err("request_timeout: the body did not arrive in time"),
                          "409": _err("id_conflict"), "413": _err("too_large")},
        },
        "get": {
            "operationId": "getAnnotations", "summary": "Sealed team notes, oldest first",
            "parameters": [{"name": "sid", "in": "query", "schema": {"type": "string"}}],
            "responses": {"200": _plain("the notes", {"type": "object", "required": ["annotations"], "properties": {
                "annotations": {"type": "array", "items": {"$ref": "#/components/schemas/StoredEnvelope"}}}}),
                "400": _err("bad_query"), "401": _UNAUTHORIZED},
        },
    },
    "/v1/live": {"get": {
        "operationId": "liveSessions", "summary": "Sessions with an envelope in the last `window` seconds",
        "parameters": [{"name": "window", "in": "query", "schema": {"type": "integer"}}],
        "responses": {"200": _json("SessionList", "recent sessions"), "400": _err("bad_query"),
                      "401": _UNAUTHORIZED, "503": _UNAVAILABLE},
    }},
    "/v1/live/{sid}": {"get": {
        "operationId": "liveStream", "summary": "Server-sent events: a session's envelopes as they arrive",
        "parameters": [_SID_PARAM, {"name": "after", "in": "query", "schema": {"type": "integer"}},
                       {"name": "max", "in": "query", "schema": {"type": "number"}}],
        "responses": {"200": {"description": "text/event-stream of `envelope` events",
                              "content": {"text/event-stream": {"schema": {"type": "string"}}}},
                      "400": _err("bad_query"), "401": _UNAUTHORIZED},
    }},
    "/v1/alerts/policy": {"get": {
        "operationId": "alertPolicy", "summary": "The alert rules devices evaluate (no webhook URLs)", "security": [],
        "responses": {"200": _plain("rules and allowed fields"), "404": _err("no_alerts: no alert policy")},
    }},
    "/v1/alerts": {
        "post": {
            "operationId": "postAlert", "summary": "Relay a device-side alert to the team's webhooks", "security": [],
            "requestBody": {"required": True, "content": {"application/json": {"schema": _OBJ}}},
            "description": "Webhook posts are bounded per rule and per site (docs/collector.md): an alert "
                           "over the budget is accepted and held (`held: true`), and counted in the rule's next post.",
            "responses": {"202": _plain("relayed (`delivered`: webhook statuses) or held over the post budget"),
                          "200": _plain("already alerted (duplicate)"),
                          "400": _err("bad_alert or bad_json"), "404": _err("no_alerts: no alert policy"),
                          "408": _err("request_timeout: the body did not arrive in time"),
                          "429": _err("rate_limited")},
        },
        "options": {"operationId": "alertOptions", "security": [], "summary": "CORS preflight",
                    "responses": {"204": {"description": "no content"}, "200": {"description": "CORS preflight answer"},
                                  "400": {"description": "CORS preflight refused"}}},
    },
}
