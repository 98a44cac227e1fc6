"""Envelopes that carry several batches of a page (payload `parts`) and the binary form."""

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

import pytest

from py_core import envelope
from py_core.events import one_per_batch, split_parts


def _ev(ts):
    return {"t": 3, "ts": ts, "i": 1, "x": 0, "y": 0}


def test_parts_split_into_batches_with_session_fields_on_the_last():
    p = {"schema": 2, "mode": "device", "pid": "p" * 8, "seq": 4, "parts": [[4, 2], [5, 0], [6, 1]],
         "events": [_ev(1), _ev(2), _ev(3)], "insights": {"x": 1}, "scope": "session", "dropped": {"batches": 1}}
    got = split_parts(p)
    assert [(b["seq"], len(b["events"])) for b in got] == [(4, 2), (5, 0), (6, 1)]
    assert "insights" in got[2] and "insights" not in got[0] and got[0]["dropped"] == {"batches": 1}
    assert all("parts" not in b for b in got)


@pytest.mark.parametrize("parts", [[[4, 2]], [[4, 5], [5, 0]], [[4, 1], [4, 2]], "x", [[4, True], [5, 2]], [[4, -1], [5, 4]]])
def test_parts_that_do_not_add_up_leave_the_payload_whole(parts):
    p = {"pid": "p" * 8, "seq": 4, "parts": parts, "events": [_ev(1), _ev(2), _ev(3)]}
    assert split_parts(p) == [p]


def test_overlapping_envelopes_count_each_batch_once_device_over_light():
    pid = "p" * 8
    light_a = {"mode": "light", "pid": pid, "seq": 5, "parts": [[5, 1], [6, 1], [7, 1]], "events": [_ev(5), _ev(6), _ev(7)]}
    light_b = {"mode": "light", "pid": pid, "seq": 5, "parts": [[5, 1], [6, 1], [7, 1], [8, 1]],
               "events": [_ev(5), _ev(6), _ev(7), _ev(8)]}
    device = {"mode": "device", "pid": pid, "seq": 6, "parts": [[6, 1], [7, 1]], "events": [_ev(60), _ev(70)]}
    kept = one_per_batch([light_a, light_b, device])
    assert sorted((b["seq"], b["mode"], b["events"][0]["ts"]) for b in kept) == [
        (5, "light", 5), (6, "device", 60), (7, "device", 70), (8, "light", 8)]


def test_binary_form_parses_to_the_same_envelope_and_opens():
    key = X25519PrivateKey.generate()
    env = envelope.seal({"events": [_ev(1)]}, key.public_key().public_bytes_raw(), sid="s" * 10, pid="p" * 10, seq=3)
    body = envelope.to_binary(env)
    assert len(body) < len(envelope.json.dumps(env))
    assert envelope.parse(body).to_dict() == env
    assert envelope.open_envelope(envelope.parse(body), {env["kid"]: key.private_bytes_raw()})["events"] == [_ev(1)]


@pytest.mark.parametrize("body,code", [(b"SLB1{\"v\":1}", "bad_json"), (b"SLB1[1]\nxx", "not_object"),
                                       (b"SLB1\xff\n", "bad_json"), (b"SLB1{\"v\":1,\"v\":1}\n", "bad_json")])
def test_bad_binary_forms_get_a_clear_error(body, code):
    with pytest.raises(envelope.EnvelopeError) as err:
        envelope.parse(body)
    assert err.value.code == code


def test_binary_form_with_ct_in_its_header_is_refused():
    key = X25519PrivateKey.generate()
    env = envelope.seal({"events": []}, key.public_key().public_bytes_raw(), sid="s" * 10, pid="p" * 10, seq=0)
    body = b"SLB1" + envelope.json.dumps(env).encode() + b"\n" + b"x" * 64
    with pytest.raises(envelope.EnvelopeError) as err:
        envelope.parse(body)
    assert err.value.code == "bad_field:ct"
