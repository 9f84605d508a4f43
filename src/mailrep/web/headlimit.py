"""Request heads of bounded size: uvicorn's httptools protocol with a limit on the bytes of the
request line plus headers and on the number of header fields (llhttp and httptools have
none: a 1 MB header line would be buffered whole).

    http = head_limited(max_bytes=16384, max_headers=100)   # uvicorn.Config(http=http, ...)

Bytes are counted as they arrive, while the head is incomplete, and as the parser hands over
the URL and each field (a head that came in one read); once either count passes `max_bytes`
(at most one read beyond it is ever held) or a header field beyond `max_headers` is parsed, the client gets `431 Request Header Fields Too Large` with the JSON error body of
the API, and the connection is closed. The app never sees the request.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

log = logging.getLogger("mailrep.web")

STATUS_431 = b"HTTP/1.1 431 Request Header Fields Too Large\r\n"


class HeadLimitedProtocol(HttpToolsProtocol):
    max_head_bytes = 16 * 1024
    max_headers = 100

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_bytes = 0
        self._in_head = True
        self._parsed = 0  # bytes of the request line and header fields parsed
        self._refusal: str | None = None

    def data_received(self, data: bytes) -> None:
        if self._in_head:
            self._head_bytes += len(data)
        super().data_received(data)
        if self._in_head and self._head_bytes > self.max_head_bytes and not self.transport.is_closing():
            self._refuse(f"the request line and headers are over {self.max_head_bytes} bytes")

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head = True
        self._parsed = 0

    def on_url(self, url: bytes) -> None:
        self._parsed += len(url)
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        # a head that came in one read is measured here, as the parser hands it over
        self._parsed += len(name) + len(value) + 4
        if len(self.headers) >= self.max_headers:
            self._refusal = f"more than {self.max_headers} header fields"
        elif self._parsed > self.max_head_bytes:
            self._refusal = f"the request line and headers are over {self.max_head_bytes} bytes"
        if self._refusal is not None:
            # an exception stops the parser; uvicorn answers it with send_400_response (below)
            raise ValueError(self._refusal)
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_head = False
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._head_bytes = 0
        self._in_head = True
        super().on_message_complete()

    def send_400_response(self, msg: str) -> None:
        if self._refusal is None:
            super().send_400_response(msg)
        else:
            self._refuse(self._refusal)

    def _refuse(self, message: str) -> None:
        body = json.dumps({"error": {"code": "headers_too_large", "message": message}}).encode()
        client = f"{self.client[0]}:{self.client[1]}" if self.client else "?"
        log.warning("refused a request head from %s: %s", client, message)
        head = [STATUS_431]
        for name, value in self.server_state.default_headers:
            head += [name, b": ", value, b"\r\n"]
        head += [b"content-type: application/json\r\n",
                 b"content-length: " + str(len(body)).encode() + b"\r\n",
                 b"connection: close\r\n\r\n", body]
        self.transport.write(b"".join(head))
        self.transport.close()


def head_limited(max_bytes: int, max_headers: int) -> type[HeadLimitedProtocol]:
    """The protocol class for uvicorn's `http=` option, with these limits."""
    return type("HeadLimitedProtocol", (HeadLimitedProtocol,),
                {"max_head_bytes": max_bytes, "max_headers": max_headers})
