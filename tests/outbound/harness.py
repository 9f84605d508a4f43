"""Loopback peers for the notification tests: an RDAP server serving corpus answers and a
slow SMTP sink that records each mail it acknowledged."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from tests.intake.smtp_harness import Sink


class RdapServer:
    """Answers `/ip/<addr>` with the corpus file whose network holds the address; counts the
    queries per file. Also serves its own bootstrap file at /bootstrap/ipv4.json."""

    def __init__(self, answers: dict[str, Path]) -> None:
        self.answers = {ipaddress.ip_network(k): v for k, v in answers.items()}
        self.queries: Counter[str] = Counter()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                if self.path.startswith("/bootstrap/"):
                    return self._send(200, outer.bootstrap())
                addr = ipaddress.ip_address(self.path.rsplit("/ip/", 1)[-1])
                for net, path in outer.answers.items():
                    if addr in net:
                        outer.queries[path.name] += 1
                        return self._send(200, path.read_bytes())
                return self._send(404, b'{"errorCode": 404}')

            def _send(self, code: int, body: bytes) -> None:
                self.send_response(code)
                self.send_header("Content-Type", "application/rdap+json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def bootstrap(self) -> bytes:
        v4 = [str(n) for n in self.answers if n.version == 4]
        v6 = [str(n) for n in self.answers if n.version == 6]
        services = [[entries, [self.url]] for entries in (v4, v6) if entries]
        return json.dumps({"version": "1.0", "publication": "2024-01-01T00:00:00Z", "services": services}).encode()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class SlowSink(Sink):
    """The intake tests' sink, answering DATA after `delay` seconds and keeping a mail only if
    the client is still there to receive the 250 (a mail counts once acknowledged)."""

    def __init__(self, delay: float = 0.0) -> None:
        super().__init__()
        self.delay = delay
        self.abandoned = 0  # mails whose client went away before the 250
        self.in_flight: dict[int, float] = {}  # mails received, 250 not yet given: since when
        self.last_kept = 0.0

    async def handle_DATA(self, server, session, envelope) -> str:
        if self.delay:
            key = id(envelope)
            self.in_flight[key] = time.monotonic()
            try:
                await asyncio.sleep(self.delay)
            except asyncio.CancelledError:  # aiosmtpd cancels the hook when the client goes
                self.abandoned += 1
                raise
            finally:
                del self.in_flight[key]
            # a killed client's FIN half-closes the stream (the transport stays open for writing)
            if server.transport is None or server.transport.is_closing() or server._reader.at_eof():
                self.abandoned += 1
                return "451 4.3.0 client gone"
        self.last_kept = time.monotonic()
        return await super().handle_DATA(server, session, envelope)

    def wait(self, n: int, timeout: float = 60.0, *, in_flight: int = 0) -> bool:
        """Wait until `n` mails were kept, none in the last `delay / 4` (the client has had time
        to record them), and `in_flight` are being received with at least half the delay still
        to go: killing the client now stops those before their 250."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            now = time.monotonic()
            fresh = sum(1 for t in list(self.in_flight.values()) if now - t < self.delay / 2)
            settled = now - self.last_kept > self.delay / 4
            if len(self.messages) >= n and fresh >= in_flight and settled:
                return True
            time.sleep(0.01)
        return False
