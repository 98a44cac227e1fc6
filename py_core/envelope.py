"""Envelope format v1: one HPKE-sealed batch of a session, as a JSON object.

This is the contract between the browser worker (which seals with WebCrypto), the
collector (which validates and stores envelopes without being able to read them) and
the viewer / CLI (which open them). It is written down in ``docs/envelope.md``.

    {"v": 1, "id": "...", "kid": "...", "sid": "...", "pid": "...",
     "seq": 0, "ts": 1700000000000, "ct": "<base64url(enc || ciphertext)>"}

HPKE (RFC 9180) base mode, single-shot: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256,
AES-256-GCM. ``info`` binds the clear header (see :func:`header_info`); the plaintext
is gzip-compressed UTF-8 JSON of the batch payload object.

Only :func:`seal` and :func:`open_envelope` need ``cryptography``, imported inside
them; validation and payload coding are pure and run in Pyodide.
"""

from __future__ import annotations

import gzip
import json
import re
import secrets
import time
import zlib
from dataclasses import asdict, dataclass
from typing import Any, Iterable, Mapping

from py_core.keys import KEY_SIZE, b64u_decode, b64u_encode, kid_of

__all__ = [
    "ENC_SIZE",
    "ERROR_CODES",
    "FIELDS",
    "MAX_CT_CHARS",
    "MAX_ENVELOPE_BYTES",
    "MAX_PAYLOAD_BYTES",
    "MAX_SEQ",
    "MAX_TS",
    "VERSION",
    "Envelope",
    "EnvelopeError",
    "check_enc",
    "decode_payload",
    "encode_payload",
    "header_info",
    "new_id",
    "open_all",
    "open_envelope",
    "parse",
    "seal",
    "to_binary",
    "sort_key",
    "validate",
]

VERSION = 1
FIELDS = ("v", "id", "kid", "sid", "pid", "seq", "ts", "ct")

#: Largest ``ct`` accepted: 4 MiB of base64url text (about 3 MiB sealed).
MAX_CT_CHARS = 4 * 1024 * 1024
#: Largest serialized envelope (the collector's default body limit): ``ct`` plus header room.
MAX_ENVELOPE_BYTES = MAX_CT_CHARS + 16 * 1024
#: Largest decompressed payload :func:`decode_payload` will produce (gzip-bomb guard).
MAX_PAYLOAD_BYTES = 64 * 1024 * 1024
#: ``seq`` is in ``0 .. MAX_SEQ`` (fits a signed 32-bit integer).
MAX_SEQ = 2**31 - 1
#: ``ts`` is in ``0 .. MAX_TS`` milliseconds (JavaScript's Number.MAX_SAFE_INTEGER).
MAX_TS = 2**53 - 1
#: HPKE ``enc`` (the X25519 ephemeral public key) and AES-GCM tag sizes.
ENC_SIZE = KEY_SIZE
TAG_SIZE = 16

INFO_PREFIX = "sightline/v1"

#: Stable machine codes carried by :class:`EnvelopeError` (``bad_field:`` and
#: ``unknown_field:`` are followed by the field name).
ERROR_CODES = (
    "bad_json",
    "not_object",
    "bad_version",
    "bad_field:<name>",
    "unknown_field:<name>",
    "too_large",
    "unknown_kid",
    "tampered",
    "bad_payload",
    "forged",
)

_ID = re.compile(r"[A-Za-z0-9_-]{16,64}")
_SID = re.compile(r"[A-Za-z0-9_-]{8,64}")
_KID = re.compile(r"[0-9a-f]{16}")
_B64U = re.compile(r"[A-Za-z0-9_-]+")


class EnvelopeError(ValueError):
    """A rejected or unopenable envelope; ``code`` is a stable machine code."""

    def __init__(self, code: str, detail: str = ""):
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code = code
        self.detail = detail

    def to_json(self) -> dict:
        """The collector's error body: ``{"error": code, "detail": detail}``."""
        return {"error": self.code, "detail": self.detail}


@dataclass(frozen=True)
class Envelope:
    """A validated envelope (header fields plus base64url ``ct``)."""

    v: int
    id: str
    kid: str
    sid: str
    pid: str
    seq: int
    ts: int
    ct: str

    def to_dict(self) -> dict:
        """The envelope as a JSON-ready object with the fields in canonical order."""
        return asdict(self)

    @property
    def sealed_size(self) -> int:
        """Bytes of ``enc || ciphertext`` that ``ct`` encodes."""
        return len(self.ct) * 3 // 4


def new_id() -> str:
    """A fresh random envelope id (22 base64url characters, 128 bits)."""
    return secrets.token_urlsafe(16)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict:
    obj = {}
    for key, value in pairs:
        if key in obj:
            raise ValueError(f"duplicate key {key!r}")
        obj[key] = value
    return obj


def _no_constant(name: str):
    raise ValueError(f"{name} is not JSON")


#: The binary form's first bytes (docs/envelope.md, "Binary form"). JSON text cannot begin so.
BINARY_MAGIC = b"SLB1"


def to_binary(env: Envelope | Mapping) -> bytes:
    """The envelope in its binary form: ``SLB1``, the clear header as JSON without ``ct``,
    a newline, then ``enc || ciphertext`` as raw bytes (a quarter smaller than base64url).
    :func:`parse` reads both forms into the same :class:`Envelope`."""
    env = validate(env) if not isinstance(env, Envelope) else env
    header = {k: v for k, v in env.to_dict().items() if k != "ct"}
    return BINARY_MAGIC + json.dumps(header, separators=(",", ":")).encode() + b"\n" + b64u_decode(env.ct)


def _parse_binary(raw: bytes) -> Envelope:
    end = raw.find(b"\n", len(BINARY_MAGIC))
    if end < 0:
        raise EnvelopeError("bad_json", "binary envelope: no newline after its header")
    try:
        header = json.loads(raw[len(BINARY_MAGIC):end].decode("utf-8"), object_pairs_hook=_no_duplicates,
                            parse_constant=_no_constant)
    except RecursionError:
        raise EnvelopeError("bad_json", "nested too deeply") from None
    except ValueError as exc:  # UnicodeDecodeError, JSONDecodeError, duplicate keys, NaN
        raise EnvelopeError("bad_json", f"binary envelope header: {str(exc)[:200]}") from None
    if not isinstance(header, dict):
        raise EnvelopeError("not_object", f"an envelope header is a JSON object, got {_json_type(header)}")
    if "ct" in header:
        raise EnvelopeError("bad_field:ct", "the binary form carries ct after its header, not in it")
    sealed = raw[end + 1:]
    if len(sealed) > MAX_CT_CHARS * 3 // 4:
        raise EnvelopeError("too_large", f"ct is {len(sealed)} bytes, limit {MAX_CT_CHARS * 3 // 4}")
    return _validate_object({**header, "ct": b64u_encode(sealed)})


def parse(raw: bytes | bytearray | memoryview | str) -> Envelope:
    """Parse a serialized envelope and validate it: JSON (UTF-8 bytes or text), or the
    binary form (:func:`to_binary`), which the browser recorder sends."""
    if isinstance(raw, (bytes, bytearray, memoryview)):
        raw = bytes(raw)
        if len(raw) > MAX_ENVELOPE_BYTES:
            raise EnvelopeError("too_large", f"envelope is {len(raw)} bytes, limit {MAX_ENVELOPE_BYTES}")
        if raw.startswith(BINARY_MAGIC):
            return _parse_binary(raw)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise EnvelopeError("bad_json", f"body is not UTF-8 ({exc.reason} at byte {exc.start})") from None
    elif isinstance(raw, str):
        text = raw
        if len(text) > MAX_ENVELOPE_BYTES:
            raise EnvelopeError("too_large", f"envelope is {len(text)} characters, limit {MAX_ENVELOPE_BYTES}")
    else:
        raise EnvelopeError("bad_json", f"expected bytes or str, got {type(raw).__name__}")
    try:
        obj = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except RecursionError:
        raise EnvelopeError("bad_json", "nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError, duplicate keys, NaN, huge integers
        raise EnvelopeError("bad_json", str(exc)[:200]) from None
    return _validate_object(obj)


def _string(obj: Mapping, name: str, pattern: re.Pattern, rule: str) -> str:
    if name not in obj:
        raise EnvelopeError(f"bad_field:{name}", "missing")
    value = obj[name]
    if not isinstance(value, str):
        raise EnvelopeError(f"bad_field:{name}", f"must be a string, got {_json_type(value)}")
    if not pattern.fullmatch(value):
        raise EnvelopeError(f"bad_field:{name}", f"must match {rule}")
    return value


def _integer(obj: Mapping, name: str, high: int) -> int:
    if name not in obj:
        raise EnvelopeError(f"bad_field:{name}", "missing")
    value = obj[name]
    if type(value) is not int:  # bool is an int subclass; 1.0 is not an integer here
        raise EnvelopeError(f"bad_field:{name}", f"must be an integer, got {_json_type(value)}")
    if not 0 <= value <= high:
        raise EnvelopeError(f"bad_field:{name}", f"must be in 0..{high}")
    return value


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (list, tuple)):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def validate(obj: Any) -> Envelope:
    """Check an envelope (object, or JSON bytes/text) against format v1.

    Raises :class:`EnvelopeError` with a stable ``code``. Unknown fields are rejected
    (they would not be authenticated by ``info``).
    """
    if isinstance(obj, Envelope):
        obj = obj.to_dict()
    elif isinstance(obj, (bytes, bytearray, memoryview, str)):
        return parse(obj)
    return _validate_object(obj)


def _validate_object(obj: Any) -> Envelope:
    if not isinstance(obj, Mapping):
        raise EnvelopeError("not_object", f"an envelope is a JSON object, got {_json_type(obj)}")
    if "v" not in obj:
        raise EnvelopeError("bad_version", "missing v")
    if type(obj["v"]) is not int or obj["v"] != VERSION:
        raise EnvelopeError("bad_version", f"unsupported version {obj['v']!r:.40}; this is v{VERSION}")
    for key in obj:
        if key not in FIELDS:
            name = key if isinstance(key, str) and _B64U.fullmatch(key) and len(key) <= 40 else "?"
            raise EnvelopeError(f"unknown_field:{name}", f"fields are {', '.join(FIELDS)}")
    env_id = _string(obj, "id", _ID, "[A-Za-z0-9_-]{16,64}")
    kid = _string(obj, "kid", _KID, "[0-9a-f]{16}")
    sid = _string(obj, "sid", _SID, "[A-Za-z0-9_-]{8,64}")
    pid = _string(obj, "pid", _SID, "[A-Za-z0-9_-]{8,64}")
    seq = _integer(obj, "seq", MAX_SEQ)
    ts = _integer(obj, "ts", MAX_TS)
    if "ct" not in obj:
        raise EnvelopeError("bad_field:ct", "missing")
    ct = obj["ct"]
    if not isinstance(ct, str):
        raise EnvelopeError("bad_field:ct", f"must be a string, got {_json_type(ct)}")
    if len(ct) > MAX_CT_CHARS:
        raise EnvelopeError("too_large", f"ct is {len(ct)} characters, limit {MAX_CT_CHARS}")
    if not _B64U.fullmatch(ct) or len(ct) % 4 == 1:
        raise EnvelopeError("bad_field:ct", "must be base64url without padding")
    if len(ct) * 3 // 4 < ENC_SIZE + TAG_SIZE:
        raise EnvelopeError("bad_field:ct", f"shorter than enc ({ENC_SIZE}) plus tag ({TAG_SIZE}) bytes")
    return Envelope(v=VERSION, id=env_id, kid=kid, sid=sid, pid=pid, seq=seq, ts=ts, ct=ct)


def header_info(env: Envelope | Mapping) -> bytes:
    """The HPKE ``info`` that binds the clear header to the ciphertext."""
    get = env.__getitem__ if isinstance(env, Mapping) else lambda name: getattr(env, name)
    return ("%s|%s|%s|%s|%s|%d|%d" % (
        INFO_PREFIX, get("id"), get("kid"), get("sid"), get("pid"), get("seq"), get("ts"),
    )).encode("utf-8")


def sort_key(env: Envelope | Mapping) -> tuple:
    """Order of envelopes within a session: ``(ts, pid, seq, id)``."""
    get = env.__getitem__ if isinstance(env, Mapping) else lambda name: getattr(env, name)
    return (get("ts"), get("pid"), get("seq"), get("id"))


def encode_payload(payload: Mapping) -> bytes:
    """Batch payload object -> gzip-compressed UTF-8 JSON (the HPKE plaintext)."""
    if not isinstance(payload, Mapping):
        raise EnvelopeError("bad_payload", f"payload must be an object, got {_json_type(payload)}")
    try:
        data = json.dumps(payload, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        raw = data.encode("utf-8")
    except (TypeError, ValueError) as exc:  # non-JSON values, NaN, lone surrogates
        raise EnvelopeError("bad_payload", f"payload is not JSON-serializable: {exc}") from None
    return gzip.compress(raw, compresslevel=6, mtime=0)


def decode_payload(data: bytes, *, limit: int = MAX_PAYLOAD_BYTES) -> dict:
    """HPKE plaintext -> payload object; gunzips at most ``limit`` bytes."""
    out = bytearray()
    rest = bytes(data)
    if not rest:
        raise EnvelopeError("bad_payload", "empty plaintext")
    while rest:
        inflater = zlib.decompressobj(wbits=31)  # gzip container only
        try:
            out += inflater.decompress(rest, limit - len(out) + 1)
        except zlib.error as exc:
            raise EnvelopeError("bad_payload", f"not gzip: {exc}") from None
        if len(out) > limit:
            raise EnvelopeError("bad_payload", f"payload inflates beyond {limit} bytes")
        if not inflater.eof:
            raise EnvelopeError("bad_payload", "truncated gzip stream")
        rest = inflater.unused_data
    try:
        obj = json.loads(out.decode("utf-8"), parse_constant=_no_constant)
    except RecursionError:
        raise EnvelopeError("bad_payload", "nested too deeply") from None
    except ValueError as exc:  # UnicodeDecodeError, JSONDecodeError
        raise EnvelopeError("bad_payload", f"not UTF-8 JSON: {str(exc)[:200]}") from None
    if not isinstance(obj, dict):
        raise EnvelopeError("bad_payload", f"payload must be an object, got {_json_type(obj)}")
    return obj


_PROBE_KEY = None


def check_enc(env: Envelope) -> None:
    """Refuse an envelope no HPKE sender can have made: ``enc`` is a low-order X25519 point.

    Every X25519 agreement with a low-order point yields the all-zero secret, which RFC 9180
    (section 7.1.4) says recipients must reject, so such an envelope could never open. The
    collector checks this without any private key: a probe key's agreement with ``enc``
    fails exactly for those points. Raises ``EnvelopeError("forged")``. CPython only.
    """
    global _PROBE_KEY
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

    if _PROBE_KEY is None:
        _PROBE_KEY = X25519PrivateKey.generate()
    enc = b64u_decode(env.ct[:44])[:ENC_SIZE]
    try:
        _PROBE_KEY.exchange(X25519PublicKey.from_public_bytes(enc))
    except ValueError:
        raise EnvelopeError("forged", "enc is a low-order X25519 point; no HPKE sender makes that") from None


def _suite():
    from cryptography.hazmat.primitives import hpke

    return hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM)


def seal(
    payload: Mapping,
    public_key_raw: bytes | str,
    *,
    sid: str,
    pid: str,
    seq: int,
    ts: int | None = None,
    id: str | None = None,
) -> dict:
    """Seal a batch payload for a public key (raw bytes or base64url); returns the envelope object.

    CPython only (needs cryptography); the browser seals with WebCrypto.
    """
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey

    public = b64u_decode(public_key_raw) if isinstance(public_key_raw, str) else bytes(public_key_raw)
    header = {
        "v": VERSION,
        "id": new_id() if id is None else id,
        "kid": kid_of(public),
        "sid": sid,
        "pid": pid,
        "seq": seq,
        "ts": int(time.time() * 1000) if ts is None else ts,
        "ct": "A" * 64,  # placeholder: validate the header before spending work on it
    }
    validate(header)
    plaintext = encode_payload(payload)
    sealed = _suite().encrypt(plaintext, X25519PublicKey.from_public_bytes(public), info=header_info(header))
    header["ct"] = b64u_encode(sealed)
    return validate(header).to_dict()


def open_envelope(env: Envelope | Mapping | bytes | str, private_keys: Mapping[str, bytes]) -> dict:
    """Decrypt an envelope with the private key named by its ``kid``; returns the payload.

    Raises :class:`EnvelopeError`: a validation code, ``unknown_kid``, ``tampered``
    (authentication failed: wrong key, altered header or ciphertext) or ``bad_payload``.
    CPython only (needs cryptography).
    """
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

    if not isinstance(env, Envelope):
        env = validate(env)
    private = private_keys.get(env.kid)
    if private is None:
        known = ", ".join(sorted(private_keys)) or "none"
        raise EnvelopeError("unknown_kid", f"no private key for kid {env.kid} (have: {known})")
    try:
        key = X25519PrivateKey.from_private_bytes(bytes(private))
    except ValueError as exc:
        raise EnvelopeError("unknown_kid", f"private key for kid {env.kid} is unusable: {exc}") from None
    try:
        plaintext = _suite().decrypt(b64u_decode(env.ct), key, info=header_info(env))
    except (InvalidTag, ValueError):
        raise EnvelopeError("tampered", f"envelope {env.id} failed authentication") from None
    return decode_payload(plaintext)


def open_all(
    envelopes: Iterable[Envelope | Mapping], private_keys: Mapping[str, bytes]
) -> tuple[list[tuple[Envelope, dict]], list[tuple[Any, EnvelopeError]]]:
    """Open many envelopes: ``([(envelope, payload)...] in sort order, [(item, error)...])``."""
    opened, failed = [], []
    for item in envelopes:
        try:
            env = item if isinstance(item, Envelope) else validate(
                {k: v for k, v in item.items() if k != "received"} if isinstance(item, Mapping) else item
            )
            opened.append((env, open_envelope(env, private_keys)))
        except EnvelopeError as exc:
            failed.append((item, exc))
    opened.sort(key=lambda pair: sort_key(pair[0]))
    return opened, failed
