#!/usr/bin/env python3
"""A callback receiver that verifies Standard Webhooks deliveries from
agenthook, with Python's standard library only (the same as receiver.go):

    WEBHOOK_SECRET=whsec_... python3 examples/receivers/receiver.py

It listens on RECEIVER_ADDR (default 127.0.0.1:9003) and prints one line
per delivery.
"""
import base64
import hashlib
import hmac
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TOLERANCE = 5 * 60  # seconds either side of webhook-timestamp


def verify(key: bytes, headers, body: bytes) -> str:
    """Returns the webhook-id of a valid delivery; raises ValueError."""
    msg_id = headers.get("webhook-id", "")
    timestamp = headers.get("webhook-timestamp", "")
    signatures = headers.get("webhook-signature", "")
    if not (msg_id and timestamp and signatures):
        raise ValueError("missing webhook-id, webhook-timestamp or webhook-signature")
    try:
        ts = int(timestamp)
    except ValueError:
        raise ValueError("webhook-timestamp is not a unix time")
    if abs(time.time() - ts) > TOLERANCE:
        raise ValueError("webhook-timestamp too old or too new")
    # The raw bytes of the body, exactly as received.
    signed = msg_id.encode() + b"." + timestamp.encode() + b"." + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest())
    for entry in signatures.split(" "):
        version, _, sig = entry.partition(",")
        if version == "v1" and hmac.compare_digest(sig.encode(), expected):
            return msg_id
    raise ValueError("no matching signature")


def main():
    secret = os.environ.get("WEBHOOK_SECRET", "")
    if not secret.startswith("whsec_"):
        sys.exit("set WEBHOOK_SECRET to the whsec_ secret of the callback (shown once when it is registered)")
    key = base64.b64decode(secret[len("whsec_"):])
    host, _, port = os.environ.get("RECEIVER_ADDR", "127.0.0.1:9003").rpartition(":")
    seen, lock = set(), threading.Lock()  # a real receiver keeps ids for a day or so, in its database

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            try:
                msg_id = verify(key, self.headers, body)
            except ValueError as e:
                print(f"refused: {e}", flush=True)
                self.send_response(401)
                self.end_headers()
                return
            with lock:
                dup = msg_id in seen
                seen.add(msg_id)
            if dup:
                print(f"duplicate {msg_id}, already handled", flush=True)
            else:
                event = json.loads(body)
                print(f"verified {msg_id} {event.get('type')} task {event.get('task_id')}", flush=True)
            self.send_response(204)  # answer first; do slow work afterwards
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer((host, int(port)), Handler)
    print(f"listening on http://{host}:{port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
