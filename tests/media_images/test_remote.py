"""fetch_image against real HTTP servers started on 127.0.0.1 by the tests themselves.

One server is the configured trusted origin; a second, untrusted one only counts connections,
to prove the guard refused before any connection was made.
"""

from __future__ import annotations

import contextlib
import io
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import httpcore
import httpx
import pytest
from PIL import Image

from errors import InputError
from media.images import prepare_image
from media.remote import FetchedImage, fetch_image
from net.guard import AddressPolicy, guarded_transport

MB = 1024 * 1024
CHUNK = 64 * 1024
CHUNKED_TOTAL = 64 * MB


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (640, 480), (200, 30, 30)).save(buffer, "PNG")
    return buffer.getvalue()


PNG = _png()


# --- test servers ---------------------------------------------------------------------------


class Server(ThreadingHTTPServer):
    """A local HTTP server that records every connection and request it sees."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.connections = 0
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.redirect_target = ""
        self.release = threading.Event()  # lets stalled handlers finish at teardown
        self.chunked_sent = 0
        self.chunked_done = threading.Event()

    @property
    def port(self) -> int:
        return self.server_address[1]

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def verify_request(self, request, client_address) -> bool:
        self.connections += 1
        return True


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Server

    def log_message(self, format, *args) -> None:
        pass

    def do_GET(self) -> None:
        self.server.requests.append((self.path, dict(self.headers)))
        ROUTES.get(urlsplit(self.path).path, not_found)(self)

    def reply(self, status: int, content_type: str, body: bytes = b"", **headers: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), value)
        self.end_headers()
        self.wfile.write(body)

    def redirect(self, location: str) -> None:
        self.reply(302, "text/plain", b"moved", Location=location)

    def start_chunked(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

    def chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()


def good(h: Handler) -> None:
    h.reply(200, "image/png; charset=binary", PNG)


def not_found(h: Handler) -> None:
    h.reply(404, "text/plain", b"not here")


def html(h: Handler) -> None:
    h.reply(200, "text/html; charset=utf-8", b"<html><body>hi</body></html>")


def empty(h: Handler) -> None:
    h.reply(200, "image/png", b"")


def huge(h: Handler) -> None:
    """Announces a terabyte, then sends nothing: a client that tried to read would hang."""
    h.send_response(200)
    h.send_header("Content-Type", "image/png")
    h.send_header("Content-Length", str(10**12))
    h.end_headers()
    h.wfile.flush()
    h.server.release.wait(10)


def chunked(h: Handler) -> None:
    """Streams far more than any cap, without a Content-Length, counting what got out."""
    try:
        h.start_chunked()
        while h.server.chunked_sent < CHUNKED_TOTAL:
            h.chunk(b"\x00" * CHUNK)
            h.server.chunked_sent += CHUNK
    except OSError:
        pass  # the client hung up, as it should
    finally:
        h.server.chunked_done.set()


def slow(h: Handler) -> None:
    h.server.release.wait(10)
    good(h)


def drip(h: Handler) -> None:
    """One byte every 0.1 s: each read is quick, so only the total deadline can stop it."""
    try:
        h.start_chunked()
        while not h.server.release.wait(0.1):
            h.chunk(b"\x00")
    except OSError:
        pass


ROUTES: dict[str, Callable[[Handler], None]] = {
    "/good.png": good,
    "/html": html,
    "/empty.png": empty,
    "/huge.png": huge,
    "/chunked.png": chunked,
    "/slow.png": slow,
    "/drip.png": drip,
    "/redirect-home": lambda h: h.redirect("/good.png"),
    "/redirect-away": lambda h: h.redirect(h.server.redirect_target),
    "/redirect-file": lambda h: h.redirect("file:///etc/passwd"),
    "/redirect-creds": lambda h: h.redirect(f"http://user:secret@127.0.0.1:{h.server.port}/good.png"),
    "/loop": lambda h: h.redirect("/loop"),
}


@contextlib.contextmanager
def running_server() -> Iterator[Server]:
    server = Server()
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.release.set()
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def trusted() -> Iterator[Server]:
    with running_server() as server:
        yield server


@pytest.fixture
def untrusted() -> Iterator[Server]:
    with running_server() as server:
        yield server


FAKE_DNS = {
    "localhost": ["127.0.0.1"],
    "metadata.internal": ["169.254.169.254"],
    "intranet.example": ["10.1.2.3"],
    "rebind.example": ["93.184.216.34", "192.168.0.10"],
}


async def fake_resolve(host: str, port: int) -> list[str]:
    """Resolve only names the tests know, so nothing here ever uses real DNS."""
    if host in FAKE_DNS:
        return FAKE_DNS[host]
    if host.replace(".", "").isdigit() or ":" in host:
        return [host]
    raise httpcore.ConnectError(f"unknown test host {host}")


@contextlib.asynccontextmanager
async def guarded_client(*trusted_servers: Server, **kwargs) -> AsyncIterator[httpx.AsyncClient]:
    origins = frozenset(("127.0.0.1", s.port) for s in trusted_servers)
    transport = guarded_transport(AddressPolicy(trusted_origins=origins), resolver=fake_resolve)
    async with httpx.AsyncClient(transport=transport, **kwargs) as client:
        yield client


def quiet_connections(server: Server) -> int:
    """Connections the server accepted, after giving its accept loop time to catch up."""
    time.sleep(0.2)
    return server.connections


async def refused(url: str, *servers: Server, max_bytes: int = MB, **kwargs) -> str:
    """The InputError message fetch_image raises for url."""
    async with guarded_client(*servers) as client:
        with pytest.raises(InputError) as caught:
            await fetch_image(url, client, max_bytes=max_bytes, **kwargs)
    assert caught.value.field == "image"
    return str(caught.value)


# --- success --------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_fetches_an_image_from_the_trusted_origin(trusted, tmp_path: Path):
    async with guarded_client(trusted) as client:
        fetched = await fetch_image(trusted.url("/good.png"), client, max_bytes=MB)
    assert fetched == FetchedImage(PNG, "image/png", trusted.url("/good.png"), trusted.url("/good.png"))
    assert "PNG" not in repr(fetched)  # the bytes stay out of reprs and logs
    prepared = prepare_image(fetched.data, out_dir=tmp_path, source_url=fetched.url)
    assert (prepared.width, prepared.height) == (640, 480)
    assert prepared.source_url == trusted.url("/good.png")


@pytest.mark.asyncio
async def test_follows_a_relative_redirect_on_the_same_origin(trusted):
    async with guarded_client(trusted) as client:
        fetched = await fetch_image(trusted.url("/redirect-home"), client, max_bytes=MB)
    assert fetched.data == PNG
    assert fetched.url == trusted.url("/redirect-home")
    assert fetched.final_url == trusted.url("/good.png")


@pytest.mark.asyncio
async def test_client_credentials_are_never_forwarded(trusted):
    headers = {"Authorization": "Bearer provider-key", "Cookie": "session=1"}
    async with guarded_client(trusted, headers=headers) as client:
        await fetch_image(trusted.url("/good.png"), client, max_bytes=MB)
    ((_, sent),) = trusted.requests
    lowered = {name.lower() for name in sent}
    assert "authorization" not in lowered and "cookie" not in lowered
    assert sent.get("Accept") == "image/*"


# --- schemes and credentials ----------------------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "ftp://example.com/a.png",
        "data:image/png;base64,iVBORw0KGgo=",
        "javascript:alert(1)",
        "gopher://example.com/",
        "/relative/path.png",
    ],
)
async def test_only_http_and_https_are_accepted(url):
    message = await refused(url)
    assert "only http:// and https:// links can be fetched" in message


@pytest.mark.asyncio
async def test_credentials_in_the_url_are_refused_without_connecting(trusted):
    url = f"http://user:secret@127.0.0.1:{trusted.port}/good.png"
    message = await refused(url, trusted)
    assert "user name or password" in message and "secret" not in message
    assert quiet_connections(trusted) == 0


# --- private addresses ----------------------------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "address",
    ["127.0.0.1:{port}", "localhost:{port}", "[::1]:{port}", "0.0.0.0:{port}"],
)
async def test_local_addresses_are_refused_without_connecting(trusted, untrusted, address):
    url = f"http://{address.format(port=untrusted.port)}/x.png"
    message = await refused(url, trusted)
    assert "private or local network address" in message
    assert quiet_connections(untrusted) == 0 and untrusted.requests == []


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://metadata.internal/latest/meta-data/",
        "https://intranet.example/logo.png",
        "http://rebind.example/logo.png",
        "http://[fd00::1]/x.png",
    ],
)
async def test_metadata_and_private_networks_are_refused(url):
    message = await refused(url)
    assert "private or local network address" in message


@pytest.mark.asyncio
async def test_redirect_to_an_untrusted_local_port_is_refused(trusted, untrusted):
    trusted.redirect_target = untrusted.url("/x.png")
    message = await refused(trusted.url("/redirect-away"), trusted)
    assert "private or local network address" in message
    assert [path for path, _ in trusted.requests] == ["/redirect-away"]
    assert quiet_connections(untrusted) == 0


@pytest.mark.asyncio
async def test_redirect_is_checked_even_if_the_client_follows_redirects(trusted, untrusted):
    trusted.redirect_target = untrusted.url("/x.png")
    async with guarded_client(trusted, follow_redirects=True) as client:
        with pytest.raises(InputError, match="private or local network address"):
            await fetch_image(trusted.url("/redirect-away"), client, max_bytes=MB)
    assert quiet_connections(untrusted) == 0


@pytest.mark.asyncio
async def test_redirect_to_metadata_address_is_refused(trusted):
    trusted.redirect_target = "http://169.254.169.254/latest/meta-data/iam"
    message = await refused(trusted.url("/redirect-away"), trusted)
    assert "169.254.169.254 refers to a private or local network address" in message


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/redirect-file", "redirected to an address that uses 'file:'"),
        ("/redirect-creds", "redirected to an address that contains a user name or password"),
    ],
)
async def test_redirect_hops_are_checked_like_the_first_url(trusted, path, expected):
    assert expected in await refused(trusted.url(path), trusted)


@pytest.mark.asyncio
async def test_redirect_loop_stops(trusted):
    message = await refused(trusted.url("/loop"), trusted, max_redirects=3)
    assert "redirected more than 3 times" in message
    assert len(trusted.requests) == 4


# --- size, type and status ------------------------------------------------------------------


@pytest.mark.asyncio
async def test_huge_content_length_is_refused_without_reading(trusted):
    started = time.monotonic()
    message = await refused(trusted.url("/huge.png"), trusted, timeout_s=5)
    assert "limit is 1 MB" in message and "did not answer" not in message
    assert time.monotonic() - started < 2


@pytest.mark.asyncio
async def test_chunked_body_is_stopped_at_the_cap(trusted):
    message = await refused(trusted.url("/chunked.png"), trusted, timeout_s=10)
    assert "is more than 1 MB; the limit is 1 MB" in message
    assert trusted.chunked_done.wait(5)
    assert trusted.chunked_sent < CHUNKED_TOTAL // 2


@pytest.mark.asyncio
async def test_non_image_content_type_is_refused(trusted):
    message = await refused(trusted.url("/html"), trusted)
    assert "returned text/html, not an image" in message


@pytest.mark.asyncio
async def test_http_error_status_is_refused_without_echoing_the_query(trusted):
    message = await refused(trusted.url("/missing.png?token=SECRET123"), trusted)
    assert "answered HTTP 404" in message and "127.0.0.1" in message
    assert "SECRET123" not in message


@pytest.mark.asyncio
async def test_empty_body_is_refused(trusted):
    assert "empty file" in await refused(trusted.url("/empty.png"), trusted)


# --- time -----------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_slow_server_times_out(trusted):
    started = time.monotonic()
    message = await refused(trusted.url("/slow.png"), trusted, timeout_s=0.5)
    assert "127.0.0.1 did not answer within 0.5 s" in message
    assert time.monotonic() - started < 3


@pytest.mark.asyncio
async def test_trickling_body_hits_the_total_deadline(trusted):
    started = time.monotonic()
    message = await refused(trusted.url("/drip.png"), trusted, timeout_s=1.0)
    assert "did not answer within 1 s" in message
    assert time.monotonic() - started < 3


@pytest.mark.asyncio
async def test_closed_port_on_trusted_origin_is_a_clear_error():
    with running_server() as gone:
        url = gone.url("/good.png")
    message = await refused(url, gone)
    assert "could not download from 127.0.0.1" in message
