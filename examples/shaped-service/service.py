#!/usr/bin/env python3
"""A small service shaped nothing like authscale's node, to show that a
scenario file alone drives it (no change to authscale's code):

- POST /auth/signin with a form (username, secret) answers 201 and the
  token in the response header X-Auth-Token (403 for a wrong secret);
- GET /v1/profile and GET /v1/items need the token in the request header
  X-Api-Key (401 without it);
- DELETE /auth/session with the token ends it (204).

Users: every name in users.csv, with its secret. Standard library only.
Usage: python3 service.py [PORT]   (0 or none: a free port; prints
"listening on 127.0.0.1:PORT" when ready)
"""

import csv
import json
import os
import secrets
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HERE = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(HERE, "users.csv"), newline="") as f:
    USERS = {row["user"]: row["password"] for row in csv.DictReader(f)}
TOKENS = {}
LOCK = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

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
        with LOCK:
            return TOKENS.get(self.headers.get("X-Api-Key", ""))

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        form = urllib.parse.parse_qs(self.rfile.read(length).decode())
        if self.path != "/auth/signin":
            return self.answer(404)
        name = form.get("username", [""])[0]
        if USERS.get(name) != form.get("secret", [None])[0]:
            return self.answer(403, b'{"error":"bad credentials"}')
        token = secrets.token_urlsafe(24)
        with LOCK:
            TOKENS[token] = name
        self.answer(201, b'{"ok":true}', [("X-Auth-Token", token)])

    def do_GET(self):
        name = self.user()
        path = urllib.parse.urlsplit(self.path).path
        if path not in ("/v1/profile", "/v1/items"):
            return self.answer(404)
        if name is None:
            return self.answer(401, b'{"error":"who are you"}')
        body = {"user": name} if path == "/v1/profile" else {"items": [1, 2, 3]}
        self.answer(200, json.dumps(body).encode())

    def do_DELETE(self):
        if self.path != "/auth/session":
            return self.answer(404)
        with LOCK:
            TOKENS.pop(self.headers.get("X-Api-Key", ""), None)
        self.answer(204)


if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    print(f"listening on 127.0.0.1:{server.server_address[1]}", flush=True)
    server.serve_forever()
