"""HPKE (RFC 9180) in the browser: recorder/hpke.js, as built to site/viewer/hpke.js.

Suite: DHKEM(X25519, HKDF-SHA256) / HKDF-SHA256 / AES-256-GCM, base mode.
References: RFC 9180's published test vectors (PyPI `cryptography-vectors`) and
Python `cryptography`'s HPKE (`cryptography.hazmat.primitives.hpke`), both ways.
Runs in real Chromium through pytest-playwright's `page` and the `site_url` fixture.
"""

from __future__ import annotations

import json
import os

import pytest

from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

KEM_X25519, KDF_HKDF_SHA256, AEAD_AES_256_GCM, MODE_BASE = 0x0020, 0x0001, 0x0002, 0

SUITE = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM)

# Helpers available to every evaluated snippet: H(hex) -> Uint8Array, X(bytes) -> hex,
# and `m`, the module under test.
JS_PRELUDE = """
const m = await import('/viewer/hpke.js');
const H = (h) => Uint8Array.from(h.match(/../g) || [], (b) => parseInt(b, 16));
const X = (u) => Array.from(u, (b) => b.toString(16).padStart(2, '0')).join('');
"""


def run_js(page, body: str, args=None):
    """Evaluate `body` (an async function body using m, H, X and `args`) in the page."""
    return page.evaluate(f"async (args) => {{ {JS_PRELUDE}\n{body} }}", args)


@pytest.fixture
def hpke_page(page, site_url):
    page.goto(site_url.rstrip("/") + "/blank.html")
    return page


def raw_public(private_key: X25519PrivateKey) -> bytes:
    return private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def raw_private(private_key: X25519PrivateKey) -> bytes:
    return private_key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())


# --------------------------------------------------------------------- RFC 9180 vectors


def _suite_vectors() -> list[dict]:
    import cryptography_vectors

    path = os.path.join(os.path.dirname(cryptography_vectors.__file__), "HPKE", "test-vectors.json")
    with open(path, encoding="utf-8") as fh:
        vectors = json.load(fh)
    return [
        v
        for v in vectors
        if v["mode"] == MODE_BASE
        and v["kem_id"] == KEM_X25519
        and v["kdf_id"] == KDF_HKDF_SHA256
        and v["aead_id"] == AEAD_AES_256_GCM
    ]


SUITE_VECTORS = _suite_vectors()


def test_vectors_exist_for_suite():
    # Guard: an empty filter would make the parametrized vector test silently vanish.
    assert SUITE_VECTORS, "no RFC 9180 vectors for base/X25519/HKDF-SHA256/AES-256-GCM found"


VECTOR_JS = """
const v = args;
const out = {};
const eph = await m.deriveKeyPair(H(v.ikmE));
const rcp = await m.deriveKeyPair(H(v.ikmR));
out.pkEm = X(eph.publicKey); out.skEm = X(eph.privateKey);
out.pkRm = X(rcp.publicKey); out.skRm = X(rcp.privateKey);

const encapped = await m.encap(H(v.pkRm), H(v.ikmE));
out.sharedSecretS = X(encapped.sharedSecret);
out.sharedSecretR = X(await m.decap(H(v.enc), H(v.skRm)));

const { enc, ctx: sender } = await m.setupBaseS(H(v.pkRm), H(v.info), H(v.ikmE));
out.enc = X(enc);
out.baseNonceS = X(sender.baseNonce);
out.cts = [];
for (const e of v.encryptions) out.cts.push(X(await sender.seal(H(e.aad), H(e.pt))));
out.seqS = sender.seq;

const receiver = await m.setupBaseR(H(v.enc), H(v.skRm), H(v.info));
out.baseNonceR = X(receiver.baseNonce);
out.pts = [];
for (const e of v.encryptions) out.pts.push(X(await receiver.open(H(e.aad), H(e.ct))));
out.seqR = receiver.seq;

out.exportsS = [];
out.exportsR = [];
for (const x of v.exports) {
  out.exportsS.push(X(await sender.export(H(x.exporter_context), x.L)));
  out.exportsR.push(X(await receiver.export(H(x.exporter_context), x.L)));
}
return out;
"""


@pytest.mark.parametrize(
    "vector", SUITE_VECTORS, ids=[f"vector{i}" for i in range(len(SUITE_VECTORS))]
)
def test_rfc9180_vector(hpke_page, vector):
    got = run_js(hpke_page, VECTOR_JS, vector)

    # DeriveKeyPair (RFC 9180 §7.1.3) for both the ephemeral and the recipient key.
    assert (got["skEm"], got["pkEm"]) == (vector["skEm"], vector["pkEm"])
    assert (got["skRm"], got["pkRm"]) == (vector["skRm"], vector["pkRm"])
    # Encap / Decap.
    assert got["enc"] == vector["enc"]
    assert got["sharedSecretS"] == vector["shared_secret"]
    assert got["sharedSecretR"] == vector["shared_secret"]
    # Key schedule: base nonce on both sides; each message's nonce is base_nonce XOR seq.
    assert got["baseNonceS"] == got["baseNonceR"] == vector["base_nonce"]
    base = int(vector["base_nonce"], 16)
    for seq, e in enumerate(vector["encryptions"]):
        assert int(e["nonce"], 16) == base ^ seq, f"vector nonce order differs at seq {seq}"

    # Every encryption in sequence, and every decryption on the receiver side.
    n = len(vector["encryptions"])
    assert n > 0
    for seq, e in enumerate(vector["encryptions"]):
        assert got["cts"][seq] == e["ct"], f"ciphertext mismatch at seq {seq}"
        assert got["pts"][seq] == e["pt"], f"plaintext mismatch at seq {seq}"
    assert got["seqS"] == got["seqR"] == n

    # Secret export.
    for i, x in enumerate(vector["exports"]):
        assert got["exportsS"][i] == x["exported_value"], f"sender export {i}"
        assert got["exportsR"][i] == x["exported_value"], f"receiver export {i}"


# ------------------------------------------------------------- interop with cryptography

INFO = b"sightline/hpke interop \x00\x01\xff"
SIZES = [0, 1, 15, 16, 17, 1000, 100 * 1024]


@pytest.mark.parametrize("size", SIZES)
def test_browser_seal_python_decrypt(hpke_page, size):
    sk = X25519PrivateKey.generate()
    pt = os.urandom(size)
    sealed_hex = run_js(
        hpke_page,
        "return X(await m.seal(H(args.pk), H(args.pt), H(args.info)));",
        {"pk": raw_public(sk).hex(), "pt": pt.hex(), "info": INFO.hex()},
    )
    sealed = bytes.fromhex(sealed_hex)
    assert len(sealed) == 32 + size + 16
    assert SUITE.decrypt(sealed, sk, info=INFO) == pt


@pytest.mark.parametrize("size", SIZES)
def test_python_encrypt_browser_open(hpke_page, size):
    sk = X25519PrivateKey.generate()
    pt = os.urandom(size)
    sealed = SUITE.encrypt(pt, sk.public_key(), info=INFO)
    got = run_js(
        hpke_page,
        "return X(await m.open(H(args.sk), H(args.sealed), H(args.info)));",
        {"sk": raw_private(sk).hex(), "sealed": sealed.hex(), "info": INFO.hex()},
    )
    assert bytes.fromhex(got) == pt


def test_browser_keypair_interop(hpke_page):
    """generateKeyPair's raw keys are a real pair usable from cryptography, both ways."""
    pt = b"hello from python"
    keys = run_js(
        hpke_page,
        "const k = await m.generateKeyPair(); return { pk: X(k.publicKey), sk: X(k.privateKey) };",
    )
    pk, sk = bytes.fromhex(keys["pk"]), bytes.fromhex(keys["sk"])
    assert len(pk) == len(sk) == 32
    private = X25519PrivateKey.from_private_bytes(sk)
    assert raw_public(private) == pk

    sealed = SUITE.encrypt(pt, private.public_key(), info=INFO)
    result = run_js(
        hpke_page,
        """
        const opened = X(await m.open(H(args.sk), H(args.sealed), H(args.info)));
        const sealed = X(await m.seal(H(args.pk), H(args.pt), H(args.info)));
        return { opened, sealed };
        """,
        {"sk": keys["sk"], "pk": keys["pk"], "sealed": sealed.hex(), "pt": pt.hex(), "info": INFO.hex()},
    )
    assert bytes.fromhex(result["opened"]) == pt
    assert SUITE.decrypt(bytes.fromhex(result["sealed"]), private, info=INFO) == pt


def test_aad_interop_with_private_cryptography_api(hpke_page):
    """cryptography's public HPKE API has no aad; its Rust binding has a private aad variant."""
    from cryptography.hazmat.bindings._rust import openssl as rust_openssl

    enc_aad = getattr(rust_openssl.hpke, "_encrypt_with_aad", None)
    dec_aad = getattr(rust_openssl.hpke, "_decrypt_with_aad", None)
    if enc_aad is None or dec_aad is None:
        pytest.skip("this cryptography has no private HPKE aad entry points")
    sk = X25519PrivateKey.generate()
    pt, aad = os.urandom(300), b"batch-id:42"
    sealed = enc_aad(SUITE, pt, sk.public_key(), info=INFO, aad=aad)
    result = run_js(
        hpke_page,
        """
        const opened = X(await m.open(H(args.sk), H(args.sealed), H(args.info), H(args.aad)));
        const sealed = X(await m.seal(H(args.pk), H(args.pt), H(args.info), H(args.aad)));
        return { opened, sealed };
        """,
        {
            "sk": raw_private(sk).hex(),
            "pk": raw_public(sk).hex(),
            "sealed": sealed.hex(),
            "pt": pt.hex(),
            "info": INFO.hex(),
            "aad": aad.hex(),
        },
    )
    assert bytes.fromhex(result["opened"]) == pt
    assert dec_aad(SUITE, bytes.fromhex(result["sealed"]), sk, info=INFO, aad=aad) == pt


# ---------------------------------------------------------------------------- tampering

TAMPER_JS = """
const sk = H(args.sk), info = H(args.info), aad = H(args.aad), sealed = H(args.sealed);
const attempt = async (bytes, inf = info, ad = aad) => {
  try { await m.open(sk, bytes, inf, ad); return null; }
  catch (e) { return (e instanceof Error ? '' : 'NOT-AN-ERROR: ') + String(e && e.message); }
};
const control = X(await m.open(sk, sealed, info, aad));
const accepted = [];
const messages = new Set();
for (let i = 0; i < sealed.length; i++) {
  for (const mask of [0x01, 0x80]) {
    const t = sealed.slice();
    t[i] ^= mask;
    const err = await attempt(t);
    if (err === null) accepted.push([i, mask]); else messages.add(err);
  }
}
const other = {
  truncatedEmpty: await attempt(new Uint8Array(0)),
  truncatedEncOnly: await attempt(sealed.slice(0, 32)),
  truncatedBelowTag: await attempt(sealed.slice(0, 47)),
  droppedLastByte: await attempt(sealed.slice(0, -1)),
  extraByte: await attempt(new Uint8Array([...sealed, 0])),
  wrongInfo: await attempt(sealed, H(args.info + '00')),
  wrongAad: await attempt(sealed, info, new Uint8Array(0)),
};
try { await m.open(sk.slice(0, 31), sealed, info, aad); other.shortKey = null; }
catch (e) { other.shortKey = String(e.message); }
return { control, accepted, messages: [...messages], other, n: sealed.length };
"""


def test_tampering_any_byte_fails(hpke_page):
    sk = X25519PrivateKey.generate()
    pt, aad = b"mask me: 4111 1111 1111 1111", b"aad"
    keys = {"sk": raw_private(sk).hex(), "pk": raw_public(sk).hex()}
    sealed_hex = run_js(
        hpke_page,
        "return X(await m.seal(H(args.pk), H(args.pt), H(args.info), H(args.aad)));",
        {**keys, "pt": pt.hex(), "info": INFO.hex(), "aad": aad.hex()},
    )
    got = run_js(
        hpke_page,
        TAMPER_JS,
        {"sk": keys["sk"], "sealed": sealed_hex, "info": INFO.hex(), "aad": aad.hex()},
    )
    assert bytes.fromhex(got["control"]) == pt
    assert got["n"] == 32 + len(pt) + 16
    # Every single-byte change of enc or ciphertext is rejected, including the top bit of
    # enc's last byte, which X25519 itself ignores (kem_context binds the raw enc bytes).
    assert got["accepted"] == []
    assert all(msg.startswith("hpke:") for msg in got["messages"]), got["messages"]
    for name, err in got["other"].items():
        assert err is not None, f"{name}: open should have thrown"
        assert err.startswith("hpke:"), f"{name}: unclear error {err!r}"
    assert "too short" in got["other"]["truncatedEmpty"]
    assert "too short" in got["other"]["truncatedBelowTag"]
    assert "32 bytes" in got["other"]["shortKey"]
