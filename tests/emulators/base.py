"""Shared machinery of the provider emulators.

An emulator is a real HTTP/1.1 server on 127.0.0.1 (threaded, keep-alive) that plays one hosted
provider's API for tests. This module holds everything that is not provider specific:

* ``sample_mp4``: the small valid H.264 video every completed job points at;
* ``Request`` / ``Response``: what a route handler receives and returns;
* ``Fault`` / ``FaultScript``: scripted failures injected at the socket level;
* ``Job`` / ``Phase``: job state derived from the wall clock since submit;
* input-validation helpers that raise ``ApiError`` (turned into a JSON error reply);
* ``Emulator``: the base class (lifecycle, routing, auth hook, request log, counters, downloads);
* ``_Server`` / ``_Handler``: the stdlib HTTP plumbing at the bottom.

Contract: shared/reference/providers.md §0 (overview); provider specifics live in runpod.py (§1)
and coretoday.py (§2).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import json
import re
import secrets
import socket
import struct
import sys
import threading
import time
import traceback
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from email import policy
from email.parser import BytesParser
from enum import Enum
from functools import cache
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from socketserver import TCPServer
from typing import Any, ClassVar, Literal, Self
from urllib.parse import parse_qsl, urlsplit

__all__ = [
    "ApiError",
    "Emulator",
    "Fault",
    "FaultScript",
    "Job",
    "Outcome",
    "OutcomeQueue",
    "Phase",
    "Request",
    "RequestRecord",
    "Response",
    "Route",
    "UploadedFile",
    "sample_mp4",
]

# ---------------------------------------------------------------------------------------------
# Sample video
# ---------------------------------------------------------------------------------------------


@cache
def sample_mp4() -> bytes:
    """A valid 854x480, 1 s, 24 fps H.264/yuv420p MP4 (about 45 KB), encoded once per process."""
    import av  # deferred: importing FFmpeg is only needed when a video is actually served
    import numpy as np

    width, height, fps = 854, 480, 24
    x = np.arange(width, dtype=np.uint16)[None, :]
    y = np.arange(height, dtype=np.uint16)[:, None]
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"preset": "veryfast", "crf": "30"}
        for i in range(fps):
            rgb = np.stack(
                np.broadcast_arrays((x + 10 * i) % 256, (y + 5 * i) % 256, ((x + y) // 4 + 8 * i) % 256),
                axis=-1,
            ).astype(np.uint8)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")))
        container.mux(stream.encode())
    return buffer.getvalue()


# ---------------------------------------------------------------------------------------------
# Requests and responses
# ---------------------------------------------------------------------------------------------


class ApiError(Exception):
    """Raised by handlers and validators; becomes ``{"error": message}`` with ``status``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def bad(field_path: str, problem: str) -> ApiError:
    """A 400 error naming the offending field, e.g. ``input.duration: must be 5 or 10``."""
    return ApiError(400, f"{field_path}: {problem}")


@dataclass(repr=False)
class UploadedFile:
    """A file part of a multipart request (``field`` is the form name, e.g. ``file:image``)."""

    field: str
    filename: str
    content_type: str
    data: bytes
    url: str = ""  # set by emulators that serve uploads back

    @property
    def size(self) -> int:
        return len(self.data)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    def __repr__(self) -> str:
        return f"UploadedFile({self.field!r}, {self.filename!r}, {self.content_type!r}, size={self.size})"


@dataclass
class Request:
    """One parsed HTTP request. Header names are lower-cased."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    raw: bytes
    received_at: float = field(default_factory=time.time)
    body: Any = None  # parsed JSON, or the text fields of a multipart form
    files: list[UploadedFile] = field(default_factory=list)
    json_error: str | None = None
    job_id: str | None = None  # the job this request names or created; set during handling
    auth_form: str | None = None  # set by the auth check

    @classmethod
    def parse(cls, method: str, target: str, headers: Mapping[str, str], raw: bytes) -> Request:
        url = urlsplit(target)
        request = cls(method, url.path, dict(parse_qsl(url.query)), {k.lower(): v for k, v in headers.items()}, raw)
        if request.content_type == "multipart/form-data":
            request.body, request.files = _parse_multipart(request.headers["content-type"], raw)
        elif raw:
            try:
                request.body = json.loads(raw)
            except ValueError as exc:
                request.json_error = str(exc)
        return request

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip().lower()

    def json_object(self) -> dict[str, Any]:
        """The JSON object body, or a 400 explaining why there is none."""
        if self.content_type != "application/json":
            raise bad("body", f"Content-Type must be application/json, got {self.content_type or 'none'!r}")
        if self.json_error is not None:
            raise bad("body", f"not valid JSON ({self.json_error})")
        if not isinstance(self.body, dict):
            raise bad("body", "must be a JSON object")
        return self.body


def _parse_multipart(content_type: str, raw: bytes) -> tuple[dict[str, str], list[UploadedFile]]:
    """Split multipart/form-data into text fields and file parts (parts with a filename)."""
    message = BytesParser(policy=policy.HTTP).parsebytes(b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + raw)
    fields: dict[str, str] = {}
    files: list[UploadedFile] = []
    if not message.is_multipart():
        return fields, files
    for part in message.iter_parts():
        name = str(part.get_param("name", "", header="content-disposition"))
        data = part.get_payload(decode=True) or b""
        filename = part.get_filename()
        if filename is None:
            fields[name] = data.decode("utf-8", "replace")
        else:
            files.append(UploadedFile(name, filename, part.get_content_type(), data))
    return fields, files


@dataclass(frozen=True)
class Response:
    """A reply to send. ``truncate`` sends the full Content-Length but only half the body."""

    status: int
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    truncate: bool = False

    def json(self) -> Any:
        return json.loads(self.body)


class _Reset:
    """Sentinel reply: close the connection with a TCP RST and no response at all."""

    def __repr__(self) -> str:
        return "RESET"


RESET = _Reset()
Reply = Response | _Reset


def json_response(status: int, obj: Any, headers: Mapping[str, str] | None = None) -> Response:
    return Response(status, json.dumps(obj).encode(), {"Content-Type": "application/json", **(headers or {})})


def error_response(status: int, message: str) -> Response:
    return json_response(status, {"error": message})


# ---------------------------------------------------------------------------------------------
# Faults
# ---------------------------------------------------------------------------------------------

FaultKind = Literal["http", "html", "reset", "delay", "malformed", "unknown_status", "truncated"]
UNKNOWN_STATUS = "WEIRD_STATE"

_PROXY_ERROR_PAGE = (
    "<html>\r\n<head><title>{code} {phrase}</title></head>\r\n<body>\r\n"
    "<center><h1>{code} {phrase}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)


@dataclass(frozen=True)
class Fault:
    """One scripted failure. Build it with the class methods, e.g. ``Fault.http(429, headers=...)``."""

    kind: FaultKind
    code: int = 200
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)
    seconds: float = 0.0

    @classmethod
    def http(cls, code: int, body: Any = None, headers: Mapping[str, str] | None = None) -> Fault:
        """Answer ``code`` at once. ``body``: dict/list → JSON, str/bytes → as is, None → JSON error."""
        return cls("http", code, body, dict(headers or {}))

    @classmethod
    def html(cls, code: int = 502) -> Fault:
        """An HTML error page, as a reverse proxy in front of the API would send."""
        return cls("html", code)

    @classmethod
    def reset(cls) -> Fault:
        """Read the request, then abort the connection (TCP RST) without any response."""
        return cls("reset")

    @classmethod
    def delay(cls, seconds: float) -> Fault:
        """Sleep, then answer normally (a slow server; a short client timeout sees ReadTimeout)."""
        return cls("delay", seconds=seconds)

    @classmethod
    def malformed(cls) -> Fault:
        """200 with Content-Type application/json and a body that is not valid JSON."""
        return cls("malformed")

    @classmethod
    def unknown_status(cls) -> Fault:
        """Handle normally, then answer 200 with ``status`` replaced by a value no contract has."""
        return cls("unknown_status")

    @classmethod
    def truncated(cls) -> Fault:
        """Handle normally, announce the full Content-Length, send half the bytes, then close."""
        return cls("truncated")

    def apply(self, handle: Callable[[], Reply], wait: Callable[[float], object]) -> Reply:
        """The reply under this fault; ``handle`` produces the normal reply when one is needed."""
        if self.kind == "reset":
            return RESET
        if self.kind == "delay":
            wait(self.seconds)
            return handle()
        if self.kind == "unknown_status":
            return _with_unknown_status(handle())
        if self.kind == "truncated":
            reply = handle()
            return replace(reply, truncate=True) if isinstance(reply, Response) else reply
        return self._canned_response()

    def _canned_response(self) -> Response:
        if self.kind == "html":
            page = _PROXY_ERROR_PAGE.format(code=self.code, phrase=_phrase(self.code)).encode()
            return Response(self.code, page, {"Content-Type": "text/html", **self.headers})
        if self.kind == "malformed":
            return Response(200, b'{"id": "job", "status": ', {"Content-Type": "application/json"})
        if self.body is None:
            return json_response(self.code, {"error": _phrase(self.code)}, self.headers)
        if isinstance(self.body, dict | list):
            return json_response(self.code, self.body, self.headers)
        body = self.body.encode() if isinstance(self.body, str) else bytes(self.body)
        return Response(self.code, body, {"Content-Type": "text/plain", **self.headers})


def _phrase(code: int) -> str:
    try:
        return HTTPStatus(code).phrase
    except ValueError:
        return "Error"


def _with_unknown_status(reply: Reply) -> Reply:
    if not isinstance(reply, Response):
        return reply
    try:
        obj = reply.json()
    except ValueError:
        return reply
    if not isinstance(obj, dict):
        return reply
    return json_response(200, {**obj, "status": UNKNOWN_STATUS})


@dataclass
class _ScriptEntry:
    route: str
    fault: Fault
    remaining: int


class FaultScript:
    """Faults queued per route and consumed in order, one per request, before normal handling."""

    def __init__(self, routes: Iterable[str]) -> None:
        self.routes = frozenset(routes)
        self._entries: list[_ScriptEntry] = []
        self._lock = threading.Lock()

    def add(self, route: str, fault: Fault, times: int = 1) -> Self:
        """Make the next ``times`` requests to ``route`` suffer ``fault`` (after earlier entries)."""
        if route not in self.routes:
            raise ValueError(f"unknown fault route {route!r}; expected one of {sorted(self.routes)}")
        if times < 1:
            raise ValueError("times must be >= 1")
        with self._lock:
            self._entries.append(_ScriptEntry(route, fault, times))
        return self

    def take(self, route: str) -> Fault | None:
        """The fault for this request to ``route``, if one is scripted."""
        with self._lock:
            for entry in self._entries:
                if entry.route == route:
                    entry.remaining -= 1
                    if entry.remaining == 0:
                        self._entries.remove(entry)
                    return entry.fault
        return None

    def pending(self, route: str | None = None) -> int:
        """How many faulted requests are still to come (for ``route``, or in total)."""
        with self._lock:
            return sum(e.remaining for e in self._entries if route in (None, e.route))

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


# ---------------------------------------------------------------------------------------------
# Jobs
# ---------------------------------------------------------------------------------------------

Outcome = Literal["succeed", "fail", "timeout", "hang"]
OUTCOMES: frozenset[str] = frozenset(Outcome.__args__)  # type: ignore[attr-defined]


class Phase(Enum):
    """Provider-neutral job state; each emulator maps it to its own status strings."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        return self not in (Phase.QUEUED, Phase.RUNNING)


_FINAL_PHASE: dict[str, Phase | None] = {
    "succeed": Phase.SUCCEEDED,
    "fail": Phase.FAILED,
    "timeout": Phase.TIMED_OUT,
    "hang": None,  # stays RUNNING for ever
}


def _check_outcome(outcome: str) -> Outcome:
    if outcome not in OUTCOMES:
        raise ValueError(f"unknown outcome {outcome!r}; expected one of {sorted(OUTCOMES)}")
    return outcome  # type: ignore[return-value]


@dataclass
class Job:
    """A submitted job. Its phase follows from the monotonic clock since ``submitted``."""

    id: str
    input: dict[str, Any]
    outcome: Outcome
    queue_s: float
    run_s: float
    submitted: float = field(default_factory=time.monotonic)
    created_at: str = field(default_factory=lambda: datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
    cancelled: float | None = None  # monotonic time of a successful cancel

    @property
    def done_at(self) -> float | None:
        """When the job reached a terminal phase (None while it never will, or not yet known)."""
        if self.cancelled is not None:
            return self.cancelled
        if _FINAL_PHASE[self.outcome] is None:
            return None
        return self.submitted + self.queue_s + self.run_s

    def phase(self, now: float | None = None) -> Phase:
        now = time.monotonic() if now is None else now
        if self.cancelled is not None:
            return Phase.CANCELLED
        if now - self.submitted < self.queue_s:
            return Phase.QUEUED
        done_at = self.done_at
        if done_at is None or now < done_at:
            return Phase.RUNNING
        return _FINAL_PHASE[self.outcome] or Phase.RUNNING

    def expired(self, ttl_s: float | None, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        done_at = self.done_at
        return ttl_s is not None and done_at is not None and now > done_at + ttl_s

    @property
    def queue_ms(self) -> int:
        return round(self.queue_s * 1000)

    @property
    def run_ms(self) -> int:
        return round(self.run_s * 1000)


class OutcomeQueue:
    """Per-submit outcome overrides, consumed one per accepted submit (thread-safe)."""

    def __init__(self) -> None:
        self._items: deque[Outcome] = deque()
        self._lock = threading.Lock()

    def append(self, outcome: Outcome) -> None:
        checked = _check_outcome(outcome)
        with self._lock:
            self._items.append(checked)

    def extend(self, outcomes: Iterable[Outcome]) -> None:
        for outcome in outcomes:
            self.append(outcome)

    def pop(self, default: Outcome) -> Outcome:
        with self._lock:
            return self._items.popleft() if self._items else default

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def __len__(self) -> int:
        return len(self._items)


# ---------------------------------------------------------------------------------------------
# Validation helpers (all raise ApiError 400 naming the field)
# ---------------------------------------------------------------------------------------------


def reject_unknown_keys(obj: Mapping[str, Any], allowed: Iterable[str], where: str) -> None:
    unknown = sorted(set(obj) - set(allowed))
    if unknown:
        prefix = f"{where}." if where else ""
        raise bad(prefix + unknown[0], f"unknown field (allowed: {', '.join(sorted(allowed))})")


def require(obj: Mapping[str, Any], key: str, where: str) -> Any:
    if key not in obj:
        raise bad(f"{where}.{key}" if where else key, "is required")
    return obj[key]


def expect_str(value: Any, name: str, *, non_empty: bool = False) -> str:
    if not isinstance(value, str):
        raise bad(name, f"must be a string, got {type(value).__name__}")
    if non_empty and not value.strip():
        raise bad(name, "must not be empty")
    return value


def expect_int(value: Any, name: str, *, lo: int | None = None, hi: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise bad(name, f"must be an integer, got {type(value).__name__}")
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise bad(name, f"must be between {lo} and {hi}, got {value}")
    return value


def expect_bool(value: Any, name: str) -> bool:
    if not isinstance(value, bool):
        raise bad(name, f"must be a boolean, got {type(value).__name__}")
    return value


def expect_dict(value: Any, name: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise bad(name, f"must be an object, got {type(value).__name__}")
    return value


def same_key(given: str, expected: str) -> bool:
    """Constant-time comparison of an API key."""
    return secrets.compare_digest(given.encode(), expected.encode())


def is_http_url(value: str) -> bool:
    url = urlsplit(value)
    return url.scheme in ("http", "https") and bool(url.netloc)


_DATA_URI = re.compile(r"data:(?P<type>[a-z]+)/[\w.+-]+;base64,", re.IGNORECASE)


def is_data_uri(value: str, media_type: str) -> bool:
    """True for ``data:<media_type>/<subtype>;base64,<payload>`` whose payload decodes to bytes."""
    match = _DATA_URI.match(value)
    if match is None or match["type"].lower() != media_type:
        return False
    try:
        return bool(base64.b64decode(value[match.end() :], validate=True))
    except ValueError:
        return False


# ---------------------------------------------------------------------------------------------
# The emulator base class
# ---------------------------------------------------------------------------------------------

Handler = Callable[..., Response]


@dataclass(frozen=True)
class Route:
    """``name`` is what faults and counters refer to; path groups become handler kwargs."""

    name: str
    methods: tuple[str, ...]
    pattern: re.Pattern[str]
    handler: Handler
    auth: bool = True


@dataclass(frozen=True)
class RequestRecord:
    """One logged request. ``status`` is None when the connection was reset instead."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    files: list[UploadedFile]
    timestamp: float
    route: str | None
    auth_form: str | None
    status: int | None
    fault: str | None
    job_id: str | None


class Emulator:
    """Base of the provider emulators: server lifecycle, routing, faults, request log, jobs.

    Subclasses set ``fault_routes`` and ``submit_routes``, and implement ``routes()`` and
    ``authenticate()``. Routes named "status", "cancel" and "download" are counted as such.
    """

    fault_routes: ClassVar[frozenset[str]]
    submit_routes: ClassVar[frozenset[str]] = frozenset({"submit"})

    def __init__(
        self,
        *,
        api_key: str,
        queue_s: float = 0.2,
        run_s: float = 0.5,
        outcome: Outcome = "succeed",
        ttl_s: float | None = None,
        video_bytes: bytes | None = None,
        fail_error: str = "Video generation failed",
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.api_key = api_key
        self.queue_s = queue_s
        self.run_s = run_s
        self.outcome = _check_outcome(outcome)
        self.ttl_s = ttl_s
        self.fail_error = fail_error
        self.host = host
        self.faults = FaultScript(self.fault_routes)
        self.next_outcomes = OutcomeQueue()
        self.internal_errors: list[str] = []  # tracebacks of emulator bugs (answered with 500)
        self._video_bytes = video_bytes
        self._requested_port = port
        self._jobs: dict[str, Job] = {}
        self._log: list[RequestRecord] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._routes = [*self.routes(), self._route("download", "GET|HEAD", r"/files/(?P<job_id>[^/]+)\.mp4", False)]

    # -- to implement -------------------------------------------------------------------------

    def routes(self) -> list[Route]:
        raise NotImplementedError

    def authenticate(self, headers: Mapping[str, str]) -> tuple[str, bool]:
        """(auth form used, e.g. "bearer" or "missing"; whether the key is right)."""
        raise NotImplementedError

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> Self:
        if self._server is not None:
            raise RuntimeError("emulator already started")
        self._stopping.clear()
        self._server = _Server((self.host, self._requested_port), self)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True, name=type(self).__name__
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()  # ends pending delay faults at once
        server.shutdown()
        server.server_close()
        server.close_connections()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("emulator not started")
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def video_bytes(self) -> bytes:
        return self._video_bytes if self._video_bytes is not None else sample_mp4()

    # -- request log and counters -------------------------------------------------------------

    @property
    def requests(self) -> list[RequestRecord]:
        """A snapshot of the request log (every request except ``GET /_emulator/stats``)."""
        with self._lock:
            return list(self._log)

    def requests_for(self, route: str) -> list[RequestRecord]:
        return [r for r in self.requests if r.route == route]

    @property
    def submits(self) -> int:
        """Submit requests received, faulted and rejected ones included."""
        return sum(1 for r in self.requests if r.route in self.submit_routes)

    @property
    def accepted_submits(self) -> int:
        """Submit requests that created a job."""
        return sum(1 for r in self.requests if r.route in self.submit_routes and r.job_id and _ok(r.status))

    @property
    def status_polls(self) -> int:
        return len(self.requests_for("status"))

    @property
    def downloads(self) -> int:
        return len(self.requests_for("download"))

    @property
    def cancels(self) -> list[str]:
        """The job id of every cancel request received, in order (faulted ones included)."""
        return [r.job_id or "" for r in self.requests_for("cancel")]

    def stats(self) -> dict[str, Any]:
        """What ``GET /_emulator/stats`` returns."""
        return {
            "requests": len(self.requests),
            "submits": self.submits,
            "accepted_submits": self.accepted_submits,
            "status_polls": self.status_polls,
            "downloads": self.downloads,
            "cancels": self.cancels,
        }

    def reset_log(self) -> None:
        with self._lock:
            self._log.clear()

    # -- jobs ---------------------------------------------------------------------------------

    @property
    def jobs(self) -> list[Job]:
        with self._lock:
            return list(self._jobs.values())

    def get_job(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def create_job(self, request: Request, job_input: dict[str, Any], id_prefix: str = "") -> Job:
        """Register an accepted submit; its outcome comes from ``next_outcomes`` or ``outcome``."""
        job_id = f"{id_prefix}{uuid.uuid4().hex[:20]}" if id_prefix else str(uuid.uuid4())
        job = Job(
            id=job_id,
            input=job_input,
            outcome=self.next_outcomes.pop(self.outcome),
            queue_s=self.queue_s,
            run_s=self.run_s,
        )
        with self._lock:
            self._jobs[job.id] = job
        request.job_id = job.id
        return job

    def find_job(self, job_id: str, not_found: str = "job not found") -> Job:
        """The live job, or a 404 for an unknown id or a record past its TTL."""
        job = self.get_job(job_id)
        if job is None or job.expired(self.ttl_s):
            raise ApiError(404, not_found)
        return job

    def cancel_job(self, job: Job) -> Job:
        """Cancel a queued or running job; a finished job is left as it is."""
        with self._lock:
            now = time.monotonic()
            if not job.phase(now).terminal:
                job.cancelled = now
        return job

    def video_url(self, job: Job) -> str:
        return f"{self.base_url}/files/{job.id}.mp4"

    # -- dispatch -----------------------------------------------------------------------------

    def dispatch(self, request: Request) -> Reply:
        """Route one request, applying a scripted fault if any, and log it."""
        if request.path == "/_emulator/stats":
            return json_response(200, self.stats())
        route, params = self._match(request)
        fault = self.faults.take(route.name) if route else None
        try:
            if route is None:
                reply: Reply = _no_route(request, self._routes)
            elif fault is None:
                reply = self._handle(route, params, request)
            else:
                reply = fault.apply(lambda: self._handle(route, params, request), self._stopping.wait)
        except Exception:  # an emulator bug must reach the test as a 500, not as a hang
            self.internal_errors.append(traceback.format_exc())
            reply = error_response(500, "emulator internal error")
        self._record(request, route, fault, reply)
        return reply

    def _match(self, request: Request) -> tuple[Route | None, dict[str, str]]:
        for route in self._routes:
            match = route.pattern.fullmatch(request.path)
            if match and request.method in route.methods:
                request.job_id = match.groupdict().get("job_id")
                return route, match.groupdict()
        return None, {}

    def _handle(self, route: Route, params: dict[str, str], request: Request) -> Response:
        try:
            if route.auth:
                request.auth_form, ok = self.authenticate(request.headers)
                if not ok:
                    raise ApiError(401, "Unauthorized: missing or invalid API key")
            return route.handler(request, **params)
        except ApiError as exc:
            return error_response(exc.status, exc.message)

    def _record(self, request: Request, route: Route | None, fault: Fault | None, reply: Reply) -> None:
        record = RequestRecord(
            method=request.method,
            path=request.path,
            query=request.query,
            headers=request.headers,
            body=request.body,
            files=request.files,
            timestamp=request.received_at,
            route=route.name if route else None,
            auth_form=request.auth_form,
            status=reply.status if isinstance(reply, Response) else None,
            fault=fault.kind if fault else None,
            job_id=request.job_id,
        )
        with self._lock:
            self._log.append(record)

    # -- shared routes ------------------------------------------------------------------------

    def _route(self, name: str, methods: str, pattern: str, auth: bool = True) -> Route:
        """Build a Route whose handler is the method ``_<name>`` of this emulator."""
        return Route(name, tuple(methods.split("|")), re.compile(pattern), getattr(self, f"_{name}"), auth)

    def _download(self, request: Request, job_id: str) -> Response:
        """The finished video; like a pre-signed CDN URL it needs no auth and outlives the job TTL."""
        job = self.get_job(job_id)
        if job is None or job.phase() is not Phase.SUCCEEDED:
            raise ApiError(404, "file not found")
        return Response(200, self.video_bytes, {"Content-Type": "video/mp4"})


def _ok(status: int | None) -> bool:
    return status is not None and 200 <= status < 300


def _no_route(request: Request, routes: list[Route]) -> Response:
    """404 for an unknown path, 405 for a known path with the wrong method."""
    if any(route.pattern.fullmatch(request.path) for route in routes):
        return error_response(405, f"method {request.method} not allowed on {request.path}")
    return error_response(404, f"no route for {request.method} {request.path}")


# ---------------------------------------------------------------------------------------------
# HTTP plumbing (stdlib)
# ---------------------------------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    """Thread-per-connection HTTP server that can abort connections and close them on stop."""

    daemon_threads = True
    request_queue_size = 1024  # listen backlog: 100+ clients connect at the same instant

    def __init__(self, address: tuple[str, int], emulator: Emulator) -> None:
        self.emulator = emulator
        self._connections: set[socket.socket] = set()
        self._to_reset: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        TCPServer.server_bind(self)  # skips HTTPServer's reverse-DNS lookup of the host
        self.server_name, self.server_port = self.server_address[:2]

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def mark_reset(self, connection: socket.socket) -> None:
        """Make the coming close send RST (SO_LINGER 0) instead of an orderly FIN."""
        connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        with self._connections_lock:
            self._to_reset.add(connection)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
            reset = request in self._to_reset
            self._to_reset.discard(request)
        if reset:
            request.close()  # no shutdown(SHUT_WR) first: that would send a FIN before the RST
        else:
            super().shutdown_request(request)

    def close_connections(self) -> None:
        """Wake handler threads blocked on idle keep-alive connections so they exit."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive; every reply carries Content-Length
    disable_nagle_algorithm = True  # else header and body writes meet delayed ACKs: +40 ms a reply
    server: _Server

    def _serve(self) -> None:
        try:
            raw = self._read_body()
            request = Request.parse(self.command, self.path, self.headers, raw)
            reply = self.server.emulator.dispatch(request)
            self._send(reply)
        except (ConnectionError, TimeoutError):
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _serve

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _read_chunked(self) -> bytes:
        chunks = []
        while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
            chunks.append(self.rfile.read(size))
            self.rfile.readline()
        while self.rfile.readline().strip():  # trailers
            pass
        return b"".join(chunks)

    def _send(self, reply: Reply) -> None:
        if not isinstance(reply, Response):
            self.server.mark_reset(self.connection)
            self.close_connection = True
            return
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(reply.body[: len(reply.body) // 2] if reply.truncate else reply.body)
        if reply.truncate:
            self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        pass
