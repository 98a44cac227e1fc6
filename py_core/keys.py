"""X25519 key pairs for sealing envelopes: key ids, base64url, key files.

A key id (``kid``) is the first 8 bytes of SHA-256 over the raw 32-byte public key,
as 16 lowercase hex characters. Key files are JSON ``{"kid", "public", "private"}``
with base64url (no padding) values, written with file mode 0600.

Only :func:`generate` and :func:`public_from_private` need ``cryptography``; it is
imported inside them, so the rest of this module imports in Pyodide (no cryptography
there; the browser uses WebCrypto).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

__all__ = [
    "KEY_SIZE",
    "KeyPair",
    "b64u_decode",
    "b64u_encode",
    "generate",
    "is_kid",
    "kid_of",
    "load",
    "load_private_keys",
    "load_public",
    "public_from_private",
    "save",
]

KEY_SIZE = 32
_B64U = re.compile(r"[A-Za-z0-9_-]*")
_KID = re.compile(r"[0-9a-f]{16}")


def b64u_encode(data: bytes) -> str:
    """Encode bytes as base64url without ``=`` padding."""
    return base64.urlsafe_b64encode(bytes(data)).rstrip(b"=").decode("ascii")


def b64u_decode(text: str | bytes) -> bytes:
    """Decode base64url with or without padding; ValueError on anything else."""
    if isinstance(text, (bytes, bytearray)):
        try:
            text = bytes(text).decode("ascii")
        except UnicodeDecodeError:
            raise ValueError("base64url: not ASCII") from None
    if not isinstance(text, str):
        raise ValueError(f"base64url: expected str, got {type(text).__name__}")
    body = text.rstrip("=")
    if len(text) - len(body) > 2 or not _B64U.fullmatch(body):
        raise ValueError("base64url: invalid characters (alphabet is A-Z a-z 0-9 - _)")
    if len(body) % 4 == 1:
        raise ValueError(f"base64url: impossible length {len(body)}")
    try:
        return base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    except (binascii.Error, ValueError) as exc:  # pragma: no cover - guarded above
        raise ValueError(f"base64url: {exc}") from None


def kid_of(public_raw: bytes) -> str:
    """Key id of a raw X25519 public key: hex of SHA-256(public)[:8]."""
    public_raw = bytes(public_raw)
    if len(public_raw) != KEY_SIZE:
        raise ValueError(f"X25519 public key must be {KEY_SIZE} bytes, got {len(public_raw)}")
    return hashlib.sha256(public_raw).digest()[:8].hex()


@dataclass(frozen=True)
class KeyPair:
    """An X25519 key pair as raw bytes, with its key id."""

    kid: str
    public: bytes
    private: bytes

    def __repr__(self) -> str:  # keep private bytes out of logs and tracebacks
        return f"KeyPair(kid={self.kid!r}, public={b64u_encode(self.public)!r}, private=<hidden>)"

    def to_json(self) -> dict:
        """The key file object: kid plus base64url public and private keys."""
        return {"kid": self.kid, "public": b64u_encode(self.public), "private": b64u_encode(self.private)}


def public_from_private(private_raw: bytes) -> bytes:
    """Raw public key of a raw X25519 private key (needs cryptography)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

    private_raw = bytes(private_raw)
    if len(private_raw) != KEY_SIZE:
        raise ValueError(f"X25519 private key must be {KEY_SIZE} bytes, got {len(private_raw)}")
    key = X25519PrivateKey.from_private_bytes(private_raw)
    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def generate() -> KeyPair:
    """A fresh X25519 key pair (needs cryptography)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

    key = X25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return KeyPair(kid=kid_of(public), public=public, private=private)


def save(keypair: KeyPair, path: str | os.PathLike) -> None:
    """Write a key file (JSON, mode 0600), atomically replacing any file at ``path``."""
    path = Path(path)
    data = (json.dumps(keypair.to_json(), indent=2) + "\n").encode("ascii")
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            os.fchmod(fh.fileno(), 0o600)  # the umask may have narrowed it; never widened
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def _read_key_file(path: str | os.PathLike) -> dict:
    try:
        obj = json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not a key file (bad JSON: {exc})") from None
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not a key file (not UTF-8)") from None
    if not isinstance(obj, dict):
        raise ValueError(f"{path}: not a key file (expected a JSON object)")
    return obj


def _decode_field(obj: dict, name: str, path) -> bytes:
    value = obj.get(name)
    if not isinstance(value, str):
        raise ValueError(f"{path}: key file has no {name!r} string")
    try:
        raw = b64u_decode(value)
    except ValueError as exc:
        raise ValueError(f"{path}: {name}: {exc}") from None
    if len(raw) != KEY_SIZE:
        raise ValueError(f"{path}: {name} must be {KEY_SIZE} bytes, got {len(raw)}")
    return raw


def _check_kid(obj: dict, public: bytes, path) -> str:
    kid = kid_of(public)
    stated = obj.get("kid")
    if stated is not None and stated != kid:
        raise ValueError(f"{path}: kid {stated!r} does not match the public key (expected {kid})")
    return kid


def load_public(path: str | os.PathLike) -> tuple[str, bytes]:
    """``(kid, public_raw)`` from a key file; a file without ``private`` is fine."""
    obj = _read_key_file(path)
    public = _decode_field(obj, "public", path)
    return _check_kid(obj, public, path), public


def load(path: str | os.PathLike) -> KeyPair:
    """Read a key file written by :func:`save`; ValueError if malformed or inconsistent."""
    obj = _read_key_file(path)
    public = _decode_field(obj, "public", path)
    private = _decode_field(obj, "private", path)
    kid = _check_kid(obj, public, path)
    try:
        derived = public_from_private(private)
    except ImportError:  # pragma: no cover - Pyodide: cannot check, trust the file
        derived = public
    if derived != public:
        raise ValueError(f"{path}: public key does not belong to the private key")
    return KeyPair(kid=kid, public=public, private=private)


def load_private_keys(paths: Iterable[str | os.PathLike]) -> dict[str, bytes]:
    """``{kid: private_raw}`` for several key files (old and new keys during rotation)."""
    keys: dict[str, bytes] = {}
    for path in paths:
        pair = load(path)
        keys[pair.kid] = pair.private
    return keys


def is_kid(value: object) -> bool:
    """True if ``value`` is a well-formed key id (16 lowercase hex characters)."""
    return isinstance(value, str) and _KID.fullmatch(value) is not None
