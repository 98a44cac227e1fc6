"""Key files and the envelope format v1 (py_core.keys, py_core.envelope)."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import stat
import subprocess
import sys
import textwrap

import pytest

from py_core import envelope, keys
from py_core.envelope import EnvelopeError

PAYLOAD = {"events": [{"t": 3, "ts": 1700000000123, "x": 10, "y": 20}], "insights": {"rage": 0, "note": "héllo ✓"}}
HEADER = dict(sid="sess-0001", pid="page_0001", seq=3, ts=1700000000000)


@pytest.fixture(scope="module")
def pair():
    return keys.generate()


@pytest.fixture(scope="module")
def sealed(pair):
    return envelope.seal(PAYLOAD, pair.public, **HEADER)


def code_of(obj) -> str:
    with pytest.raises(EnvelopeError) as info:
        envelope.validate(obj)
    return info.value.code


# --- keys ---------------------------------------------------------------------------


def test_kid_is_first_8_bytes_of_sha256_hex(pair):
    """kid = hex(SHA-256(public)[:8]), 16 lowercase hex characters."""
    assert pair.kid == hashlib.sha256(pair.public).hexdigest()[:16]
    assert keys.is_kid(pair.kid) and len(pair.public) == 32 and len(pair.private) == 32
    assert keys.public_from_private(pair.private) == pair.public


def test_b64u_roundtrip_without_padding():
    """b64u_encode drops padding and uses - and _; b64u_decode accepts with or without padding."""
    for n in range(0, 40):
        data = os.urandom(n)
        text = keys.b64u_encode(data)
        assert "=" not in text and "+" not in text and "/" not in text
        assert keys.b64u_decode(text) == data
        assert keys.b64u_decode(text + "=" * (-len(text) % 4)) == data
    assert keys.b64u_encode(b"\xfb\xff") == "-_8"
    assert keys.b64u_decode(b"-_8") == b"\xfb\xff"


@pytest.mark.parametrize("bad", ["ab+c", "ab/c", "a", "abcde", "ab c", "ab=c", "a===", "é", "ab\n", 12, None])
def test_b64u_decode_rejects_bad_input(bad):
    """Bad base64url gives a ValueError that says base64url."""
    with pytest.raises(ValueError, match="base64url"):
        keys.b64u_decode(bad)


def test_save_writes_mode_0600_json_and_load_roundtrips(tmp_path, pair):
    """save writes {kid, public, private} with mode 0600; load returns the same pair."""
    path = tmp_path / "team.key"
    keys.save(pair, path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    obj = json.loads(path.read_text())
    assert set(obj) == {"kid", "public", "private"} and obj["kid"] == pair.kid
    assert keys.b64u_decode(obj["public"]) == pair.public
    assert keys.load(path) == pair
    assert keys.load_public(path) == (pair.kid, pair.public)
    assert "private=<hidden>" in repr(pair) and keys.b64u_encode(pair.private) not in repr(pair)
    assert not [p for p in tmp_path.iterdir() if p.name != "team.key"]


def test_save_replaces_and_never_widens_permissions(tmp_path, pair):
    """Saving over a world-readable file leaves a 0600 file."""
    path = tmp_path / "k.json"
    path.write_text("old")
    os.chmod(path, 0o644)
    keys.save(pair, path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and keys.load(path).kid == pair.kid


def test_load_rejects_inconsistent_or_malformed_files(tmp_path, pair):
    """A wrong kid, a mismatched public key, bad base64 or bad JSON are ValueErrors."""
    good = pair.to_json()
    other = keys.generate()
    cases = {
        "kid": {**good, "kid": "0" * 16},
        "mismatch": {**good, "public": keys.b64u_encode(other.public), "kid": other.kid},
        "b64": {**good, "private": "***"},
        "short": {**good, "private": keys.b64u_encode(b"x" * 31)},
        "missing": {"kid": good["kid"], "public": good["public"]},
        "array": [1, 2],
    }
    for name, obj in cases.items():
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(obj))
        with pytest.raises(ValueError):
            keys.load(path)
    (tmp_path / "junk.json").write_text("{not json")
    with pytest.raises(ValueError, match="not a key file"):
        keys.load(tmp_path / "junk.json")
    (tmp_path / "pub.json").write_text(json.dumps({"kid": good["kid"], "public": good["public"]}))
    assert keys.load_public(tmp_path / "pub.json") == (pair.kid, pair.public)


def test_load_private_keys_maps_kid_to_private(tmp_path, pair):
    """load_private_keys reads several key files into {kid: private} for rotation."""
    other = keys.generate()
    keys.save(pair, tmp_path / "a.key")
    keys.save(other, tmp_path / "b.key")
    assert keys.load_private_keys([tmp_path / "a.key", tmp_path / "b.key"]) == {
        pair.kid: pair.private, other.kid: other.private,
    }
    assert keys.load_private_keys([]) == {}


# --- envelope: seal / open -------------------------------------------------------------


def test_seal_produces_a_valid_v1_envelope(pair, sealed):
    """seal returns exactly the v1 fields, header as given, ct = base64url(enc || ciphertext)."""
    assert list(sealed) == list(envelope.FIELDS)
    assert sealed["v"] == 1 and sealed["kid"] == pair.kid
    assert {k: sealed[k] for k in HEADER} == HEADER
    assert 16 <= len(sealed["id"]) <= 64
    assert len(keys.b64u_decode(sealed["ct"])) >= envelope.ENC_SIZE + 16
    assert envelope.validate(sealed).to_dict() == sealed
    assert json.loads(json.dumps(sealed)) == sealed


def test_open_roundtrips_payload(pair, sealed):
    """open_envelope returns the sealed payload, from a dict, an Envelope or JSON text."""
    private = {pair.kid: pair.private}
    assert envelope.open_envelope(sealed, private) == PAYLOAD
    assert envelope.open_envelope(envelope.validate(sealed), private) == PAYLOAD
    assert envelope.open_envelope(json.dumps(sealed), private) == PAYLOAD


def test_seal_defaults_fresh_id_and_current_ts(pair):
    """Without id and ts, seal picks a random id and the current time in ms."""
    import time

    a = envelope.seal({}, pair.public, sid="sess-0001", pid="page_0001", seq=0)
    b = envelope.seal({}, keys.b64u_encode(pair.public), sid="sess-0001", pid="page_0001", seq=0)
    assert a["id"] != b["id"] and a["ct"] != b["ct"]
    assert abs(a["ts"] - time.time() * 1000) < 60_000
    assert envelope.seal({}, pair.public, id="fixed-id-0000000001", **HEADER)["id"] == "fixed-id-0000000001"


def test_header_info_format(sealed):
    """info = sightline/v1|id|kid|sid|pid|seq|ts, identical from a dict or an Envelope."""
    expected = "sightline/v1|%s|%s|sess-0001|page_0001|3|1700000000000" % (sealed["id"], sealed["kid"])
    assert envelope.header_info(sealed) == expected.encode()
    assert envelope.header_info(envelope.validate(sealed)) == expected.encode()


@pytest.mark.parametrize("field,value", [
    ("id", "another-id-000000001"), ("sid", "sess-0002"), ("pid", "page_0002"), ("seq", 4), ("ts", 1700000000001),
])
def test_changed_header_field_is_tampered(pair, sealed, field, value):
    """The header is bound by info: changing any header field makes opening fail."""
    with pytest.raises(EnvelopeError) as info:
        envelope.open_envelope({**sealed, field: value}, {pair.kid: pair.private})
    assert info.value.code == "tampered"


def test_flipped_ciphertext_bit_is_tampered(pair, sealed):
    """Altering enc or the ciphertext fails authentication."""
    raw = bytearray(keys.b64u_decode(sealed["ct"]))
    for i in (0, 31, 32, len(raw) - 1):
        bad = bytearray(raw)
        bad[i] ^= 1
        with pytest.raises(EnvelopeError) as info:
            envelope.open_envelope({**sealed, "ct": keys.b64u_encode(bytes(bad))}, {pair.kid: pair.private})
        assert info.value.code == "tampered"


def test_unknown_kid_and_wrong_key(pair, sealed):
    """No key for the kid -> unknown_kid; a different key under that kid -> tampered."""
    other = keys.generate()
    with pytest.raises(EnvelopeError) as info:
        envelope.open_envelope(sealed, {other.kid: other.private})
    assert info.value.code == "unknown_kid" and other.kid in info.value.detail
    with pytest.raises(EnvelopeError) as info:
        envelope.open_envelope(sealed, {pair.kid: other.private})
    assert info.value.code == "tampered"


def test_open_with_rotated_keys(pair, sealed):
    """A key map with old and new keys opens envelopes of both."""
    new = keys.generate()
    newer = envelope.seal(PAYLOAD, new.public, **HEADER)
    both = {pair.kid: pair.private, new.kid: new.private}
    assert envelope.open_envelope(sealed, both) == envelope.open_envelope(newer, both) == PAYLOAD


def test_interop_with_raw_hpke(pair):
    """An envelope sealed directly with cryptography's HPKE (as the browser does) opens."""
    from cryptography.hazmat.primitives import hpke
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey

    header = {"v": 1, "id": "browser-made-id-0001", "kid": pair.kid, **HEADER}
    plaintext = gzip.compress(json.dumps(PAYLOAD).encode())
    suite = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM)
    ct = suite.encrypt(plaintext, X25519PublicKey.from_public_bytes(pair.public), info=envelope.header_info(header))
    assert envelope.open_envelope({**header, "ct": keys.b64u_encode(ct)}, {pair.kid: pair.private}) == PAYLOAD


def test_open_rejects_bad_plaintexts(pair):
    """Non-gzip, non-JSON, non-object and gzip-bomb plaintexts are bad_payload."""
    from cryptography.hazmat.primitives import hpke
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey

    suite = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM)
    header = {"v": 1, "id": "bad-plaintext-00001", "kid": pair.kid, **HEADER}
    for plaintext in (b"plain", gzip.compress(b"{oops"), gzip.compress(b"[1,2]"), gzip.compress(b"\xff\xfe"),
                      gzip.compress(b"{}")[:-4], b""):
        ct = suite.encrypt(plaintext, X25519PublicKey.from_public_bytes(pair.public), info=envelope.header_info(header))
        with pytest.raises(EnvelopeError) as info:
            envelope.open_envelope({**header, "ct": keys.b64u_encode(ct)}, {pair.kid: pair.private})
        assert info.value.code == "bad_payload"
    bomb = gzip.compress(b"{" + b" " * (2 * 1024 * 1024) + b"}")
    with pytest.raises(EnvelopeError, match="inflates"):
        envelope.decode_payload(bomb, limit=1024 * 1024)


def test_payload_coding_roundtrip_and_multi_member_gzip():
    """encode_payload/decode_payload roundtrip; concatenated gzip members are joined."""
    assert envelope.decode_payload(envelope.encode_payload(PAYLOAD)) == PAYLOAD
    assert envelope.encode_payload(PAYLOAD) == envelope.encode_payload(PAYLOAD)  # mtime=0: deterministic
    assert envelope.decode_payload(gzip.compress(b'{"a":') + gzip.compress(b"1}")) == {"a": 1}
    for bad in ([1], "x", None):
        with pytest.raises(EnvelopeError):
            envelope.encode_payload(bad)
    for bad in ({"x": float("nan")}, {"x": object()}, {"x": "\ud800"}):
        with pytest.raises(EnvelopeError) as info:
            envelope.encode_payload(bad)
        assert info.value.code == "bad_payload"


def test_seal_rejects_bad_header_and_oversize(pair):
    """seal validates the header and refuses payloads whose ct would exceed the limit."""
    with pytest.raises(EnvelopeError) as info:
        envelope.seal({}, pair.public, sid="short", pid="page_0001", seq=0)
    assert info.value.code == "bad_field:sid"
    with pytest.raises(EnvelopeError) as info:
        envelope.seal({}, pair.public, sid="sess-0001", pid="page_0001", seq=-1)
    assert info.value.code == "bad_field:seq"
    with pytest.raises(ValueError):
        envelope.seal({}, b"short", **HEADER)
    big = {"blob": keys.b64u_encode(os.urandom(4 * 1024 * 1024))}
    with pytest.raises(EnvelopeError) as info:
        envelope.seal(big, pair.public, **HEADER)
    assert info.value.code == "too_large"


# --- envelope: validation ----------------------------------------------------------------


def test_validate_error_codes(sealed):
    """Each kind of malformed envelope has its stable machine code."""
    assert code_of(b"{not json") == "bad_json"
    assert code_of(b"\xff\xfe{}") == "bad_json"
    assert code_of('{"v": 1, "v": 1}') == "bad_json"
    assert code_of('{"v": NaN}') == "bad_json"
    assert code_of("[" * 100_000) == "bad_json"
    assert code_of("1" * 5000) == "bad_json"
    assert code_of("[]") == "not_object"
    assert code_of(None) == "not_object"
    assert code_of(42) == "not_object"
    assert code_of({}) == "bad_version"
    assert code_of({**sealed, "v": 2}) == "bad_version"
    assert code_of({**sealed, "v": True}) == "bad_version"
    assert code_of({**sealed, "v": 1.0}) == "bad_version"
    assert code_of({**sealed, "extra": 1}) == "unknown_field:extra"
    assert code_of({**sealed, "é": 1}) == "unknown_field:?"
    assert code_of({**sealed, "received": 1}) == "unknown_field:received"
    for field in ("id", "kid", "sid", "pid", "seq", "ts", "ct"):
        assert code_of({k: v for k, v in sealed.items() if k != field}) == f"bad_field:{field}"
        assert code_of({**sealed, field: None}) == f"bad_field:{field}"
    assert code_of({**sealed, "ct": "A" * (envelope.MAX_CT_CHARS + 4)}) == "too_large"
    assert code_of(b" " * (envelope.MAX_ENVELOPE_BYTES + 1)) == "too_large"


@pytest.mark.parametrize("field,value", [
    ("id", "short"), ("id", "x" * 65), ("id", "has space 0000000000"), ("id", "ünïcode-0000000000"),
    ("id", "line-end-000000000\n"), ("kid", "ABCDEF0123456789"), ("kid", "0123"), ("kid", 123),
    ("sid", "sess"), ("sid", "sess/0001"), ("sid", "s" * 65), ("pid", "page|0001"), ("pid", ["page_0001"]),
    ("seq", -1), ("seq", 2**31), ("seq", True), ("seq", 1.0), ("seq", "1"), ("seq", 10**400),
    ("ts", -5), ("ts", 2**53), ("ts", 1.5e12), ("ts", False),
    ("ct", ""), ("ct", "A" * 63), ("ct", "A" * 65), ("ct", "AAAA" * 20 + "="), ("ct", "AA+A" * 20), ("ct", 7),
])
def test_validate_rejects_bad_field_values(sealed, field, value):
    """Wrong types, patterns and ranges are bad_field:<name>."""
    assert code_of({**sealed, field: value}) == f"bad_field:{field}"


def test_validate_accepts_bounds(sealed):
    """Boundary values are accepted: 16/64-char ids, 8/64-char sids, seq 0 and 2**31-1, ts 0."""
    for field, value in [("id", "a" * 16), ("id", "Z" * 64), ("sid", "-" * 8), ("sid", "_" * 64), ("pid", "a1" * 32),
                         ("seq", 0), ("seq", 2**31 - 1), ("ts", 0), ("ts", 2**53 - 1)]:
        assert getattr(envelope.validate({**sealed, field: value}), field) == value


def test_sort_key_orders_by_ts_pid_seq(pair):
    """sort_key orders envelopes by (ts, pid, seq)."""
    envs = [envelope.seal({}, pair.public, sid="sess-0001", pid=pid, seq=seq, ts=ts)
            for pid, seq, ts in [("page_bbbb", 1, 5), ("page_aaaa", 0, 5), ("page_aaaa", 0, 1), ("page_bbbb", 0, 5)]]
    ordered = sorted(envs, key=envelope.sort_key)
    assert [(e["ts"], e["pid"], e["seq"]) for e in ordered] == [
        (1, "page_aaaa", 0), (5, "page_aaaa", 0), (5, "page_bbbb", 0), (5, "page_bbbb", 1)]


def test_open_all_sorts_and_collects_failures(pair):
    """open_all opens what it can in session order and reports the rest with their codes."""
    private = {pair.kid: pair.private}
    good = [envelope.seal({"n": i}, pair.public, sid="sess-0001", pid="page_0001", seq=i, ts=100 - i) for i in range(3)]
    stranger = envelope.seal({}, keys.generate().public, **HEADER)
    opened, failed = envelope.open_all([*good, {**good[0], "received": 1}, stranger, {"v": 9}], private)
    assert [payload["n"] for _, payload in opened] == [2, 1, 0, 0]
    assert [exc.code for _, exc in failed] == ["unknown_kid", "bad_version"]


def test_pure_parts_import_without_cryptography():
    """keys and envelope import and validate with cryptography unavailable (as in Pyodide)."""
    code = textwrap.dedent("""
        import sys
        class Block:
            def find_spec(self, name, path=None, target=None):
                if name == "cryptography" or name.startswith("cryptography."):
                    raise ImportError("blocked: " + name)
        sys.meta_path.insert(0, Block())
        from py_core import envelope, keys
        env = {"v": 1, "id": "a" * 22, "kid": "0" * 16, "sid": "sess-0001", "pid": "page_0001",
               "seq": 0, "ts": 1, "ct": "A" * 80}
        assert envelope.validate(env).kid == "0" * 16
        assert envelope.header_info(env).startswith(b"sightline/v1|")
        assert envelope.decode_payload(envelope.encode_payload({"a": 1})) == {"a": 1}
        assert keys.b64u_decode(keys.b64u_encode(b"xyz")) == b"xyz" and len(keys.kid_of(bytes(32))) == 16
        try:
            envelope.seal({}, bytes(32), sid="sess-0001", pid="page_0001", seq=0)
        except ImportError:
            pass
        else:
            raise SystemExit("seal should need cryptography")
        assert not [m for m in sys.modules if m.startswith("cryptography")]
        print("ok")
    """)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
