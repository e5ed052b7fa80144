#!/usr/bin/env python3
"""A small service shaped nothing like authscale's node, to show that a
scenario file alone drives it (no change to authscale's code):

- POST /auth/signin with a form (username, secret) answers 201 and the
  token in the response header X-Auth-Token (403 for a wrong secret); the
  token is stateless (the user's name and an HMAC-SHA256 under a key every
  instance shares), so any instance accepts what another issued;
- GET /v1/profile and GET /v1/items need the token in the request header
  X-Api-Key (401 without it);
- DELETE /auth/session answers 204 (a stateless token cannot be revoked:
  it stays valid, as a JWT does until it expires);
- GET /healthz answers 200, and GET /metrics this process's CPU as
  process_cpu_seconds_total (Prometheus text), as client libraries export
  it, for external sweeps (scripts/local-cluster.sh).

Users: every name in users.csv, with its secret. Standard library only.
Usage: python3 service.py [PORT]   (0 or none: a free port; prints
"listening on 127.0.0.1:PORT" when ready)
"""

import base64
import csv
import hashlib
import hmac
import json
import os
import sys
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HERE = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(HERE, "users.csv"), newline="") as f:
    USERS = {row["user"]: row["password"] for row in csv.DictReader(f)}
KEY = os.environ.get("SHAPED_SERVICE_KEY", "shaped-service-demo-key").encode()


def issue(name):
    mac = hmac.new(KEY, name.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(name.encode()).decode() + "." + base64.urlsafe_b64encode(mac).decode()


def verify(token):
    try:
        encoded, mac = token.split(".", 1)
        name = base64.urlsafe_b64decode(encoded).decode()
    except ValueError:
        return None
    return name if hmac.compare_digest(issue(name).split(".", 1)[1], mac) else None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Head and body go out in separate writes: without this, Nagle's
    # algorithm and delayed ACKs hold every body back ~40 ms.
    disable_nagle_algorithm = True

    def log_message(self, *args):
        pass

    def answer(self, status, body=b"", headers=()):
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        if body:
            self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def user(self):
        return verify(self.headers.get("X-Api-Key", ""))

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        form = urllib.parse.parse_qs(self.rfile.read(length).decode())
        if self.path != "/auth/signin":
            return self.answer(404)
        name = form.get("username", [""])[0]
        if USERS.get(name) != form.get("secret", [None])[0]:
            return self.answer(403, b'{"error":"bad credentials"}')
        self.answer(201, b'{"ok":true}', [("X-Auth-Token", issue(name))])

    def do_GET(self):
        path = urllib.parse.urlsplit(self.path).path
        if path == "/healthz":
            return self.answer(200, b'{"ok":true}')
        if path == "/metrics":
            text = (
                "# TYPE process_cpu_seconds_total counter\n"
                f"process_cpu_seconds_total {time.process_time():.6f}\n"
            )
            return self.answer(200, text.encode())
        name = self.user()
        if path not in ("/v1/profile", "/v1/items"):
            return self.answer(404)
        if name is None:
            return self.answer(401, b'{"error":"who are you"}')
        body = {"user": name} if path == "/v1/profile" else {"items": [1, 2, 3]}
        self.answer(200, json.dumps(body).encode())

    def do_DELETE(self):
        if self.path != "/auth/session":
            return self.answer(404)
        self.answer(204)


if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    # The default accept backlog (5) drops connections under load.
    ThreadingHTTPServer.request_queue_size = 128
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    print(f"listening on 127.0.0.1:{server.server_address[1]}", flush=True)
    server.serve_forever()
