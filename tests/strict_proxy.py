"""An HTTP proxy in front of a test S3 server that refuses what AWS S3 refuses and it accepts.

AWS S3 answers 400 InvalidArgument to a request that carries both a query signature
(a presigned URL) and an `Authorization` header, the header a download client may send
again after following a redirect. SeaweedFS, MinIO and moto ignore the extra header, so a
test against them alone would pass where real S3 fails. Everything else is forwarded
byte for byte (Host included, so signatures still check), with bodies streamed both ways
and connections kept alive on both sides.

A test may also hold back the requests it names (`StrictProxy.holding`) until it lets them
go, to act at a known point of a client's work rather than on timing luck.
"""

from __future__ import annotations

import http.client
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, BinaryIO
from urllib.parse import parse_qsl, urlsplit
from xml.sax.saxutils import escape

# Query parameters that make a request a presigned one: signature version 4 and 2.
QUERY_SIGNATURE_PARAMETERS = frozenset({"X-Amz-Algorithm", "X-Amz-Signature", "Signature"})
ONE_AUTH_MECHANISM = (
    "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query "
    "string parameter or the Authorization header should be specified"
)
# Headers about one connection, not the request (RFC 9110 section 7.6.1); Transfer-Encoding is
# kept on requests, whose chunked bodies are copied as they came.
_HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-connection", "te", "upgrade", "expect", "trailer"})
_BUFFER = 64 * 1024


def _copy_exactly(source: BinaryIO, send: Any, length: int) -> None:
    while length > 0:
        data = source.read(min(_BUFFER, length))
        if not data:
            raise ConnectionError("the client closed the connection in the middle of a body")
        send(data)
        length -= len(data)


def _copy_chunked(source: BinaryIO, send: Any) -> None:
    """Copy a chunked body verbatim (extensions and trailers included) up to its end."""
    while True:
        line = source.readline(_BUFFER)
        if not line:
            raise ConnectionError("the client closed the connection in the middle of a chunked body")
        send(line)
        size = int(line.split(b";", 1)[0].strip(), 16)
        if size == 0:
            break
        _copy_exactly(source, send, size + 2)  # the chunk and its CRLF
    while True:  # trailer fields, then the empty line
        line = source.readline(_BUFFER)
        if not line:
            raise ConnectionError("the client closed the connection in the middle of a trailer")
        send(line)
        if line in (b"\r\n", b"\n"):
            return


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes: with Nagle's algorithm the body of a small
    # answer on a kept-alive connection waits for the client's delayed ACK (~40 ms a request).
    disable_nagle_algorithm = True
    server: StrictProxy
    timeout = 120  # an idle kept-alive connection is closed after this many seconds
    upstream: http.client.HTTPConnection | None = None

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def setup(self) -> None:
        super().setup()
        self.server.connections += 1

    def handle_one_request(self) -> None:
        try:
            super().handle_one_request()
        except (ConnectionError, TimeoutError, http.client.HTTPException):
            # Either side went away mid-exchange: neither connection is in a known state.
            self.close_connection = True
            if self.upstream is not None:
                self.upstream.close()
                self.upstream = None

    def finish(self) -> None:
        if self.upstream is not None:
            self.upstream.close()
        super().finish()

    def _handle(self) -> None:
        query = parse_qsl(urlsplit(self.path).query, keep_blank_values=True)
        if "Authorization" in self.headers and QUERY_SIGNATURE_PARAMETERS & {name for name, _ in query}:
            self._refuse_two_auth_mechanisms()
            return
        self.server.wait_if_held(self.command, self.path)
        self.server.forwarded += 1
        self._forward()

    do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = do_OPTIONS = do_PATCH = _handle

    def _has_body(self) -> bool:
        chunked = "chunked" in self.headers.get("Transfer-Encoding", "").lower()
        return chunked or int(self.headers.get("Content-Length") or 0) > 0

    def _refuse_two_auth_mechanisms(self) -> None:
        self.server.refused += 1
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            "<Error><Code>InvalidArgument</Code>"
            f"<Message>{ONE_AUTH_MECHANISM}</Message>"
            "<ArgumentName>Authorization</ArgumentName>"
            f"<ArgumentValue>{escape(self.headers['Authorization'])}</ArgumentValue>"
            f"<RequestId>{uuid.uuid4().hex[:16].upper()}</RequestId>"
            "</Error>"
        ).encode()
        if self._has_body():
            self.close_connection = True  # its body is not read
        self.send_response_only(400)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _connect(self) -> http.client.HTTPConnection:
        if self.upstream is None:
            self.upstream = http.client.HTTPConnection(self.server.upstream_host, self.server.upstream_port)
        return self.upstream

    def _send_request(self) -> http.client.HTTPResponse:
        # A kept-alive upstream connection may have been closed by the server meanwhile:
        # a request without a body is sent again on a new one.
        for attempt in (1, 2):
            upstream = self._connect()
            try:
                upstream.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
                for name, value in self.headers.items():
                    if name.lower() not in _HOP_BY_HOP:
                        upstream.putheader(name, value)
                upstream.endheaders()
                if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                    _copy_chunked(self.rfile, upstream.send)
                elif length := int(self.headers.get("Content-Length") or 0):
                    _copy_exactly(self.rfile, upstream.send, length)
                return upstream.getresponse()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                upstream.close()
                self.upstream = None
                if attempt == 2 or self._has_body():
                    raise
        raise AssertionError("unreachable")

    def _forward(self) -> None:
        response = self._send_request()
        framed = response.getheader("Content-Length") is not None or self.command == "HEAD"
        framed = framed or response.status in (204, 304) or 100 <= response.status < 200
        chunked = not framed and self.request_version == "HTTP/1.1"
        if not framed and not chunked:
            self.close_connection = True  # an HTTP/1.0 client reads to the end of the connection
        self.send_response_only(response.status, response.reason)
        for name, value in response.getheaders():
            if name.lower() not in _HOP_BY_HOP and name.lower() != "transfer-encoding":
                self.send_header(name, value)
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        while self.command != "HEAD" and (data := response.read1(_BUFFER)):
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data) if chunked else data)
        if chunked:
            self.wfile.write(b"0\r\n\r\n")
        response.close()  # read to its end (a HEAD answer too): the connection takes the next request
        if response.will_close and self.upstream is not None:
            self.upstream.close()
            self.upstream = None


@dataclass
class Hold:
    """Requests that `matches` (method, path with query) wait until the hold ends; `arrived`
    is set by the first of them."""

    matches: Callable[[str, str], bool]
    arrived: threading.Event = field(default_factory=threading.Event)
    released: threading.Event = field(default_factory=threading.Event)


class StrictProxy(ThreadingHTTPServer):
    """The proxy on a free port of 127.0.0.1, serving from a thread of its own until stopped."""

    daemon_threads = True

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.upstream_host = upstream_host
        self.upstream_port = upstream_port
        self.forwarded = 0
        self.refused = 0
        self.connections = 0  # accepted from clients
        self._holds: list[Hold] = []
        self._thread = threading.Thread(target=self.serve_forever, args=(0.1,), name="strict-s3-proxy", daemon=True)

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    @classmethod
    def start(cls, upstream_host: str, upstream_port: int) -> StrictProxy:
        proxy = cls(upstream_host, upstream_port)
        proxy._thread.start()
        return proxy

    @contextmanager
    def holding(self, matches: Callable[[str, str], bool]) -> Iterator[Hold]:
        """Hold back the requests `matches` names while the block runs; they go on after it."""
        hold = Hold(matches)
        self._holds.append(hold)
        try:
            yield hold
        finally:
            self._holds.remove(hold)
            hold.released.set()

    def wait_if_held(self, method: str, path: str) -> None:
        for hold in list(self._holds):
            if hold.matches(method, path):
                hold.arrived.set()
                hold.released.wait(120)

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        self._thread.join()
