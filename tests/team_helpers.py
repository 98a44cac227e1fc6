"""Helpers for the team-feature tests: a webhook receiver that records requests, a collector with a policy."""

from __future__ import annotations

import json
import os
import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from conftest import Collector


class Receiver:
    """A local HTTP server that records every POST (path, headers, JSON body) and answers 204."""

    def __init__(self):
        self.requests: list[dict] = []
        self.arrived = threading.Condition()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                with outer.arrived:
                    outer.requests.append({"path": self.path, "headers": dict(self.headers), "json": json.loads(body)})
                    outer.arrived.notify_all()
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, n: int, timeout: float = 20.0) -> list[dict]:
        with self.arrived:
            self.arrived.wait_for(lambda: len(self.requests) >= n, timeout)
        return list(self.requests)

    def close(self):
        self.server.shutdown()


def start_collector(tmp, site, receiver_url: str, fields=("sid", "page")) -> Collector:
    """A real `sightline serve` with an alert policy posting to the receiver (Slack and Discord)."""
    policy = {"site": "Demo shop",
              "rules": [{"name": "errors", "metric": "errors", "at_least": 1},
                        {"name": "failing-requests", "metric": "failed_requests", "at_least": 1},
                        {"name": "frustrated", "metric": "frustration", "at_least": 0.6}],
              "fields": list(fields),
              "webhooks": [{"format": "slack", "url": receiver_url + "/slack"},
                           {"format": "discord", "url": receiver_url + "/discord"}]}
    path = tmp / "alerts.json"
    path.write_text(json.dumps(policy))
    old = os.environ.get("SIGHTLINE_ALERTS")
    os.environ["SIGHTLINE_ALERTS"] = str(path)
    try:
        return Collector(tmp / "team.db", site, secrets.token_urlsafe(16)).start()
    finally:
        if old is None:
            del os.environ["SIGHTLINE_ALERTS"]
        else:
            os.environ["SIGHTLINE_ALERTS"] = old
