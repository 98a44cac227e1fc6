"""The sightline command (py_core.cli): keygen, decrypt, analyze, sessions."""

from __future__ import annotations

import json
import socket
import stat
import subprocess
import sys
import threading
import time
import types
from pathlib import Path

import pytest

from py_core import cli, envelope, keys
from py_core.collector.app import create_app
from py_core.collector.store import SQLiteStore

TOKEN = "cli-test-token"


def run(capsys, *argv):
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def keyfile(tmp_path):
    path = tmp_path / "team.key"
    keys.save(keys.generate(), path)
    return path


def batch(pair, pid, seq, ts, *event_ts, sid="sess-0001"):
    events = [{"t": 3, "ts": t, "n": f"{pid}/{seq}/{t}"} for t in event_ts]
    return envelope.seal({"events": events, "insights": {"clicks": len(events)}}, pair.public,
                         sid=sid, pid=pid, seq=seq, ts=ts)


def session_file(tmp_path, pair, name="envs.json"):
    """Two pages, batches stored out of order, plus one duplicate."""
    envs = [batch(pair, "page_b001", 0, 5000, 5000, 5100), batch(pair, "page_a001", 1, 2000, 2000, 2500),
            batch(pair, "page_a001", 0, 1000, 1000, 1500)]
    path = tmp_path / name
    path.write_text(json.dumps([*envs, envs[0]]))
    return path


def test_keygen_writes_private_key_file_and_prints_kid(tmp_path, capsys):
    """keygen writes a 0600 key file and prints its kid and public key."""
    path = tmp_path / "sub" / "team.key"
    code, out, err = run(capsys, "keygen", "--out", path)
    assert code == 0 and stat.S_IMODE(path.stat().st_mode) == 0o600
    pair = keys.load(path)
    assert out.splitlines() == [f"kid     {pair.kid}", f"public  {keys.b64u_encode(pair.public)}"]
    assert keys.b64u_encode(pair.private) not in out + err


def test_keygen_refuses_to_overwrite_without_force(keyfile, capsys):
    """An existing key file is kept unless --force."""
    before = keys.load(keyfile)
    code, out, err = run(capsys, "keygen", "--out", keyfile)
    assert code == 1 and "--force" in err and keys.load(keyfile) == before
    assert run(capsys, "keygen", "--out", keyfile, "--force")[0] == 0 and keys.load(keyfile) != before


def test_decrypt_file_merges_batches_in_order(tmp_path, keyfile, capsys):
    """decrypt --file prints one JSON array of events, batches merged, ordered, duplicates dropped."""
    path = session_file(tmp_path, keys.load(keyfile))
    code, out, err = run(capsys, "decrypt", "--key", keyfile, "--file", path)
    assert code == 0 and err == ""
    events = json.loads(out)
    assert [e["ts"] for e in events] == [1000, 1500, 2000, 2500, 5000, 5100]
    assert events[0]["n"] == "page_a001/0/1000"


def test_decrypt_accepts_api_answer_and_json_lines(tmp_path, keyfile, capsys):
    """The API's {"envelopes": [... "received"]} answer and JSON lines both work as --file."""
    pair = keys.load(keyfile)
    envs = [batch(pair, "page_a001", i, 1000 + i, 1000 + i) for i in range(3)]
    api = tmp_path / "api.json"
    api.write_text(json.dumps({"sid": "sess-0001", "envelopes": [{**e, "received": 1} for e in envs]}))
    lines = tmp_path / "envs.jsonl"
    lines.write_text("\n".join(json.dumps(e) for e in reversed(envs)) + "\n")
    for path in (api, lines):
        code, out, _ = run(capsys, "decrypt", "--key", keyfile, "--file", path, "--indent", "1")
        assert code == 0 and [e["ts"] for e in json.loads(out)] == [1000, 1001, 1002] and "\n " in out


def test_decrypt_with_rotated_keys_and_strict(tmp_path, capsys):
    """Several --key files open old and new batches; a missing key warns, or fails with --strict."""
    old, new = keys.generate(), keys.generate()
    keys.save(old, tmp_path / "old.key")
    keys.save(new, tmp_path / "new.key")
    path = tmp_path / "rot.json"
    path.write_text(json.dumps([batch(old, "page_a001", 0, 1000, 1000), batch(new, "page_b001", 0, 2000, 2000)]))
    code, out, err = run(capsys, "decrypt", "--key", tmp_path / "old.key", "--key", tmp_path / "new.key", "--file", path)
    assert code == 0 and [e["ts"] for e in json.loads(out)] == [1000, 2000] and err == ""
    code, out, err = run(capsys, "decrypt", "--key", tmp_path / "new.key", "--file", path)
    assert code == 0 and [e["ts"] for e in json.loads(out)] == [2000] and "unknown_kid" in err
    code, out, err = run(capsys, "decrypt", "--key", tmp_path / "new.key", "--file", path, "--strict")
    assert code == 1 and out == "" and "could not be opened" in err


def test_decrypt_failures_are_clear(tmp_path, keyfile, capsys):
    """Wrong key, bad files and missing sources exit 1 with a message, not a traceback."""
    path = session_file(tmp_path, keys.generate())
    code, out, err = run(capsys, "decrypt", "--key", keyfile, "--file", path)
    assert code == 1 and "no envelope could be opened" in err
    (tmp_path / "junk.json").write_text("{{{")
    assert "neither JSON" in run(capsys, "decrypt", "--key", keyfile, "--file", tmp_path / "junk.json")[2]
    assert "cannot read" in run(capsys, "decrypt", "--key", keyfile, "--file", tmp_path / "none.json")[2]
    assert "cannot load key" in run(capsys, "decrypt", "--key", tmp_path / "junk.json", "--file", path)[2]
    assert "--url" in run(capsys, "decrypt", "--key", keyfile)[2]
    with pytest.raises(SystemExit):
        cli.main(["decrypt", "--file", str(path)])  # --key is required


def test_decrypt_picks_a_session_from_a_mixed_file(tmp_path, keyfile, capsys):
    """A file with several sessions needs --session, which filters it."""
    pair = keys.load(keyfile)
    path = tmp_path / "mixed.json"
    path.write_text(json.dumps([batch(pair, "page_a001", 0, 1, 1, sid="sess-aaaa"),
                                batch(pair, "page_b001", 0, 2, 2, sid="sess-bbbb")]))
    code, _, err = run(capsys, "decrypt", "--key", keyfile, "--file", path)
    assert code == 1 and "sess-aaaa" in err and "sess-bbbb" in err
    code, out, _ = run(capsys, "decrypt", "--key", keyfile, "--file", path, "--session", "sess-bbbb")
    assert code == 0 and [e["ts"] for e in json.loads(out)] == [2]
    assert run(capsys, "decrypt", "--key", keyfile, "--file", path, "--session", "sess-cccc")[0] == 1


def test_analyze_passes_merged_events_to_insights(tmp_path, keyfile, capsys, monkeypatch):
    """analyze calls py_core.insights.analyze(events) with the merged events and prints its JSON."""
    seen = []
    fake = types.ModuleType("py_core.insights")
    fake.analyze = lambda events: seen.append(events) or {"events": len(events), "summary": "ok ✓"}
    monkeypatch.setitem(sys.modules, "py_core.insights", fake)
    code, out, _ = run(capsys, "analyze", "--key", keyfile, "--file", session_file(tmp_path, keys.load(keyfile)))
    assert code == 0 and json.loads(out) == {"events": 6, "summary": "ok ✓"}
    assert [e["ts"] for e in seen[0]] == [1000, 1500, 2000, 2500, 5000, 5100]


def test_analyze_with_the_real_insights(tmp_path, keyfile, capsys):
    """analyze runs with the project's own py_core.insights and prints a JSON object."""
    pytest.importorskip("py_core.insights")
    code, out, _ = run(capsys, "analyze", "--key", keyfile, "--file", session_file(tmp_path, keys.load(keyfile)))
    assert code == 0 and isinstance(json.loads(out), dict)


def test_merge_events_keeps_batch_order_without_timestamps():
    """Events without numeric ts keep batch order; with ts they are stably sorted."""
    assert cli.merge_events([(None, {"events": [{"a": 2}, {"a": 1}]}), (None, {"events": "junk"}), (None, {})]) == [
        {"a": 2}, {"a": 1}]
    assert cli.merge_events([(None, {"events": [{"ts": 2, "k": 1}, {"ts": 1}]}), (None, {"events": [{"ts": 2, "k": 2}]})]) == [
        {"ts": 1}, {"ts": 2, "k": 1}, {"ts": 2, "k": 2}]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def live_collector(tmp_path):
    """A collector on a real port in a background thread."""
    import uvicorn

    store = SQLiteStore(tmp_path / "live.db")
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(store, token=TOKEN), host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)
    store.close()


def test_decrypt_and_sessions_from_a_live_collector(live_collector, tmp_path, keyfile, capsys, monkeypatch):
    """decrypt --url --session fetches with the token ($SIGHTLINE_TOKEN works); sessions lists them."""
    import urllib.request

    pair = keys.load(keyfile)
    for env in json.loads(session_file(tmp_path, pair).read_text()):
        req = urllib.request.Request(f"{live_collector}/v1/ingest", data=json.dumps(env).encode(), method="POST")
        urllib.request.urlopen(req, timeout=10).close()
    code, out, err = run(capsys, "decrypt", "--key", keyfile, "--url", live_collector + "/", "--token", TOKEN,
                         "--session", "sess-0001")
    assert code == 0 and [e["ts"] for e in json.loads(out)] == [1000, 1500, 2000, 2500, 5000, 5100]
    monkeypatch.setenv("SIGHTLINE_TOKEN", TOKEN)
    code, out, _ = run(capsys, "sessions", "--url", live_collector, "--json")
    assert code == 0 and json.loads(out)["sessions"][0]["envelopes"] == 3
    monkeypatch.setenv("SIGHTLINE_TOKEN", "wrong")
    code, _, err = run(capsys, "decrypt", "--key", keyfile, "--url", live_collector, "--session", "sess-0001")
    assert code == 1 and "HTTP 401" in err
    monkeypatch.delenv("SIGHTLINE_TOKEN")
    code, _, err = run(capsys, "decrypt", "--key", keyfile, "--url", live_collector, "--session", "sess-0001")
    assert code == 1 and "token" in err
    code, _, err = run(capsys, "decrypt", "--key", keyfile, "--url", live_collector, "--token", TOKEN,
                       "--session", "sess-none")
    assert code == 1 and "HTTP 404" in err and "unknown_session" in err


def test_console_script_is_installed(tmp_path):
    """The `sightline` console script runs keygen."""
    script = Path(sys.executable).parent / "sightline"
    if not script.exists():
        pytest.skip("console script not installed in this environment")
    result = subprocess.run([str(script), "keygen", "--out", str(tmp_path / "k.key")], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0 and result.stdout.startswith("kid     ")
    assert keys.load(tmp_path / "k.key").kid == result.stdout.split()[1]


@pytest.mark.parametrize("content, expected", [(None, "No such file"), ("{not json", "not JSON"),
                                               ('{"rules": "many"}', "each rule is")])
def test_serve_with_a_bad_alert_policy_is_a_clear_error(tmp_path, capsys, monkeypatch, content, expected):
    """A missing, malformed or invalid $SIGHTLINE_ALERTS file stops `serve` with one line, not a traceback."""
    policy = tmp_path / "alerts.json"
    if content is not None:
        policy.write_text(content)
    monkeypatch.setenv("SIGHTLINE_ALERTS", str(policy))
    code, out, err = run(capsys, "serve", "--db", tmp_path / "s.db", "--token", TOKEN, "--port", "1")
    assert code == 1 and err.startswith("sightline: error: alert policy ($SIGHTLINE_ALERTS)") and expected in err
    assert "Traceback" not in err and "serving" not in out


# --- first-run polish: readable session list, ids starting with "-", one line for a wrong key ------


def test_sessions_prints_a_table_with_readable_times(live_collector, tmp_path, keyfile, capsys):
    """`sightline sessions` prints one row per session with local date-times and a length, not epoch ms."""
    import datetime
    import urllib.request

    pair = keys.load(keyfile)
    for env in json.loads(session_file(tmp_path, pair).read_text()):
        req = urllib.request.Request(f"{live_collector}/v1/ingest", data=json.dumps(env).encode(), method="POST")
        urllib.request.urlopen(req, timeout=10).close()
    code, out, err = run(capsys, "sessions", "--url", live_collector, "--token", TOKEN)
    assert code == 0, err
    header, row = out.splitlines()
    assert header.split() == ["SESSION", "STARTED", "LAST", "LENGTH", "PAGES", "BATCHES", "BYTES"]
    first = datetime.datetime.fromtimestamp(1000 / 1000).strftime("%Y-%m-%d %H:%M:%S")
    last = datetime.datetime.fromtimestamp(5000 / 1000).strftime("%Y-%m-%d %H:%M:%S")
    cells = row.split()
    assert cells[0] == "sess-0001" and " ".join(cells[1:3]) == first and " ".join(cells[3:5]) == last
    assert cells[5:8] == ["0m04s", "2", "3"]
    assert "1000" not in row.split("  ")[0] and "1 session;" in err
    code, out, _ = run(capsys, "sessions", "--url", live_collector, "--token", TOKEN, "--json")
    assert json.loads(out)["sessions"][0]["first_ts"] == 1000


def test_session_ids_and_tokens_starting_with_a_dash(live_collector, tmp_path, keyfile, capsys):
    """`--session -x...` and `--token -x...` take the value (session ids and generated tokens may start with -)."""
    import urllib.request

    pair = keys.load(keyfile)
    path = tmp_path / "dash.json"
    envs = [batch(pair, "page_a001", 0, 1000, 1000, sid="-dash-sid1"), batch(pair, "page_a001", 0, 9000, 9000, sid="sess-other")]
    path.write_text(json.dumps(envs))
    code, out, err = run(capsys, "decrypt", "--key", keyfile, "--file", path, "--session", "-dash-sid1")
    assert code == 0 and [e["ts"] for e in json.loads(out)] == [1000], err
    code, out, err = run(capsys, "decrypt", "--key", keyfile, "--file", path, "--session", "--dash-sid2")
    assert code == 1 and "no envelopes for session --dash-sid2" in err
    urllib.request.urlopen(urllib.request.Request(f"{live_collector}/v1/ingest", data=json.dumps(envs[0]).encode(),
                                                  method="POST"), timeout=10).close()
    code, out, err = run(capsys, "decrypt", "--key", keyfile, "--url", live_collector, "--token", TOKEN,
                         "--session", "-dash-sid1")
    assert code == 0 and [e["ts"] for e in json.loads(out)] == [1000], err
    code, _, err = run(capsys, "decrypt", "--key", keyfile, "--url", live_collector, "--token", "-not-the-token",
                       "--session", "-dash-sid1")
    assert code == 1 and "HTTP 401" in err  # the dash token was sent, not taken for an option
    with pytest.raises(SystemExit):  # a missing value is still an error, not swallowed as the next option
        cli.main(["decrypt", "--key", str(keyfile), "--file", str(path), "--session", "--strict"])


def test_wrong_key_is_one_line_not_one_per_envelope(tmp_path, keyfile, capsys):
    """Thirty envelopes sealed to another key: one line saying how many and why, then the error."""
    other = keys.generate()
    path = tmp_path / "many.json"
    path.write_text(json.dumps([batch(other, "page_a001", i, 1000 + i, 1000 + i) for i in range(30)]))
    code, out, err = run(capsys, "decrypt", "--key", keyfile, "--file", path)
    lines = err.splitlines()
    assert code == 1 and out == "" and len(lines) == 2, err
    assert "30 of 30 envelopes (unknown_kid)" in lines[0] and "wrong --key?" in lines[1]
