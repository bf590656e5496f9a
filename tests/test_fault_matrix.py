"""The fault matrix: every scripted provider failure, one job each, through the real engine.

Product rule: no paid job is ever lost and none is submitted twice. So every case asserts

* exactly one submit reached the provider (faulted ones included), and
* the job either ends **delivered** (the stored file is the provider's video, byte for byte before
  the params tag was embedded) or in a clear state whose message keeps the provider's job id
  (or, when the submit's answer was lost, says so and that nothing was resent), and
* what the engine reports is what the ledger on disk says.

Engine level (no Gradio): JobEngine + JobStore on tmp_path against the Runpod and core.today emulators.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest

import jobs.delivery
import jobs.engine
from jobs.engine import JobEngine
from jobs.models import FINAL_STATES, JobState
from jobs.record import JobRecord
from jobs.store import JobStore
from media.images import prepare_image
from media.video import read_comment
from providers.capabilities import CAPABILITIES
from settings import Settings
from tests.emulators.base import Emulator, Fault
from tests.emulators.coretoday import CoretodayEmulator
from tests.emulators.runpod import RunpodEmulator
from tests.helpers import make_photo, make_request

KEY = "rpa_FAULTMATRIXKEY0123456789abcdef"
WRONG_KEY = "rpa_NOTTHEKEY00000000000000000000"


@pytest.fixture(scope="module")
def photo(tmp_path_factory):
    work = tmp_path_factory.mktemp("photo")
    return prepare_image(make_photo(work / "photo.png", 640, 400), out_dir=work / "inputs")


@pytest.fixture(autouse=True)
def fast_download_retries(monkeypatch):
    """Download retries start at 1 s in production; 0.1 s keeps the matrix fast (same code path)."""
    monkeypatch.setattr(jobs.delivery, "RETRY_INITIAL_S", 0.1)
    monkeypatch.setattr(jobs.delivery, "RETRY_MAX_S", 0.4)


# ---- the matrix ----------------------------------------------------------------------------


@dataclass
class Run:
    """What one case produced, for its own checks."""

    record: JobRecord
    emulator: Emulator
    seen: list[tuple[JobState, str]]  # (state, message) of every change a watcher saw
    settings: Settings


@dataclass(frozen=True)
class Case:
    id: str
    expect: JobState
    provider: str = "runpod"
    faults: tuple[tuple[str, Fault, int], ...] = ()
    emulator: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    key: str = KEY
    cancel_after_s: float | None = None
    budget_s: float | None = None  # shortens DOWNLOAD_RETRY_BUDGET_S (no documented URL lifetime)
    url_ttl_s: float | None = None  # shortens the provider's documented result URL lifetime
    check: Callable[[Run], None] | None = None

    def __str__(self) -> str:
        return self.id


def _faults(route: str, *faults: Fault | tuple[Fault, int]) -> tuple[tuple[str, Fault, int], ...]:
    out = []
    for item in faults:
        fault, times = item if isinstance(item, tuple) else (item, 1)
        out.append((route, fault, times))
    return tuple(out)


# -- case-specific checks --


def _next_poll_waited(route: str, seconds: float) -> Callable[[Run], None]:
    """After every 429 on `route`, the next request to it came no sooner than Retry-After."""

    def check(run: Run) -> None:
        requests = run.emulator.requests_for(route)
        limited = [i for i, r in enumerate(requests) if r.status == 429]
        assert limited, "the 429 was never served"
        for i in limited:
            gap = requests[i + 1].timestamp - requests[i].timestamp
            assert gap >= seconds - 0.05, f"poll after a 429 came {gap:.2f} s later, Retry-After was {seconds} s"

    return check


def _fault_served(route: str, kind: str, count: int = 1) -> Callable[[Run], None]:
    def check(run: Run) -> None:
        served = [r for r in run.emulator.requests_for(route) if r.fault == kind]
        assert len(served) == count, f"{route}: {kind} served {len(served)}×, expected {count}"

    return check


def _all(*checks: Callable[[Run], None]) -> Callable[[Run], None]:
    def check(run: Run) -> None:
        for one in checks:
            one(run)

    return check


SLOW_S = 3.0  # a slow answer; the client's http_timeout_s is 0.5 in those cases


def _gave_up_on_the_slow_answer(route: str) -> Callable[[Run], None]:
    """The retry went out well before the slow answer came: the client timed out (0.5 s + backoff)."""

    def check(run: Run) -> None:
        # The log is in order of answers; the slow request was answered last, so sort by arrival.
        requests = sorted(run.emulator.requests_for(route), key=lambda r: r.timestamp)
        slow = next(i for i, r in enumerate(requests) if r.fault == "delay")
        assert requests[slow + 1].timestamp - requests[slow].timestamp < SLOW_S - 0.5

    return check


def _saw_unknown_status(run: Run) -> None:
    assert any("unrecognised status" in message for _, message in run.seen), run.seen


def _says(*fragments: str) -> Callable[[Run], None]:
    def check(run: Run) -> None:
        for fragment in fragments:
            assert fragment in run.record.message, f"{fragment!r} not in {run.record.message!r}"

    return check


def _said_not_yet_delivered(run: Run) -> None:
    retries = [m for state, m in run.seen if state is JobState.SUCCEEDED and "not yet delivered" in m]
    assert retries, f"no 'not yet delivered' message while retrying: {run.seen}"


def _submit_answer_lost(run: Run) -> None:
    record = run.record
    assert record.provider_job_id is None
    assert record.submit_sent_at is not None
    assert record.timeline[-1]["state"] == "submitted" and record.timeline[-1]["note"] == "id unknown"
    assert "not sent again" in record.message and "console" in record.message


def _submit_refused(run: Run) -> None:
    assert run.record.provider_job_id is None and run.emulator.jobs == []
    assert "Submit refused" in run.record.message


def _expired(run: Run) -> None:
    assert "no longer knows job" in run.record.message
    assert run.emulator.requests_for("status")[-1].status == 404


def _undelivered_keeps_url(run: Run) -> None:
    record = run.record
    assert record.video is None
    assert record.remote_url and record.remote_url in record.message
    assert "could not be downloaded" in record.message
    assert record.timeline[-1]["note"] == "not delivered"
    assert run.emulator.downloads >= 2  # it did retry, within the budget
    assert not (run.settings.videos_dir / f"{record.id}.mp4").exists()
    assert not list(run.settings.videos_dir.glob("*.part"))


def _cancel_unconfirmed(run: Run) -> None:
    record = run.record
    assert record.cancel is not None and record.cancel["confirmed"] is False
    assert "did not confirm" in record.message
    assert record.timeline[-1]["note"] == "not confirmed by provider"
    assert run.emulator.cancels == [record.provider_job_id]
    # Honest: the provider never cancelled it, and the message says it may still be charged.
    assert run.emulator.jobs[0].cancelled is None
    assert "may still run and be charged" in record.message


def _finished_before_cancel(run: Run) -> None:
    record = run.record
    assert run.emulator.cancels == [record.provider_job_id]
    assert record.cancel["confirmed"] is False
    assert "its video is kept" in record.cancel["note"]


RP, CT = "runpod", "coretoday"
LONG = {"queue_s": 0.1, "run_s": 3.0}  # still running when the cancel goes out

CASES = [
    # --- status route: transient trouble is retried; the job is delivered -------------------
    Case(
        "rp-status-429-retry-after",
        JobState.DELIVERED,
        faults=_faults("status", Fault.http(429, {"error": "slow down"}, {"Retry-After": "1"})),
        check=_next_poll_waited("status", 1.0),
    ),
    Case(
        "rp-status-429-past-stamina",  # five 429s: stamina gives up, the engine's own backoff takes over
        JobState.DELIVERED,
        faults=_faults("status", (Fault.http(429, {"error": "slow down"}, {"Retry-After": "1"}), 5)),
        check=_all(_next_poll_waited("status", 1.0), _fault_served("status", "http", 5)),
    ),
    Case("rp-status-500-json", JobState.DELIVERED, faults=_faults("status", Fault.http(500, {"error": "boom"}))),
    Case("rp-status-502-html", JobState.DELIVERED, faults=_faults("status", Fault.html(502))),
    Case("rp-status-reset", JobState.DELIVERED, faults=_faults("status", Fault.reset())),
    Case(
        "rp-status-read-timeout",
        JobState.DELIVERED,
        faults=_faults("status", Fault.delay(SLOW_S)),
        settings={"http_timeout_s": 0.5},
        check=_all(_fault_served("status", "delay"), _gave_up_on_the_slow_answer("status")),
    ),
    Case("rp-status-malformed-json", JobState.DELIVERED, faults=_faults("status", (Fault.malformed(), 2))),
    Case(
        "rp-status-unknown-status",
        JobState.DELIVERED,
        faults=_faults("status", (Fault.unknown_status(), 3)),
        check=_saw_unknown_status,
    ),
    Case(
        "rp-status-every-fault-in-a-row",
        JobState.DELIVERED,
        faults=_faults(
            "status",
            Fault.http(500),
            Fault.html(502),
            Fault.reset(),
            Fault.malformed(),
            Fault.http(503, "Service Unavailable"),
            Fault.unknown_status(),
        ),
    ),
    Case(
        "ct-status-429-retry-after",
        JobState.DELIVERED,
        provider=CT,
        faults=_faults("status", Fault.http(429, {"error": "rate limited"}, {"Retry-After": "1"})),
        check=_next_poll_waited("status", 1.0),
    ),
    Case("ct-status-502-html", JobState.DELIVERED, provider=CT, faults=_faults("status", Fault.html(502))),
    Case("ct-status-reset", JobState.DELIVERED, provider=CT, faults=_faults("status", Fault.reset())),
    Case(
        "ct-status-read-timeout",
        JobState.DELIVERED,
        provider=CT,
        faults=_faults("status", Fault.delay(SLOW_S)),
        settings={"http_timeout_s": 0.5},
        check=_gave_up_on_the_slow_answer("status"),
    ),
    Case("ct-status-malformed-json", JobState.DELIVERED, provider=CT, faults=_faults("status", Fault.malformed())),
    Case(
        "ct-status-unknown-status",
        JobState.DELIVERED,
        provider=CT,
        faults=_faults("status", (Fault.unknown_status(), 2)),
        check=_saw_unknown_status,
    ),
    # --- outcomes: a clear final state that keeps the job id ---------------------------------
    Case(
        "rp-status-404-after-ttl",
        JobState.EXPIRED,
        emulator={"queue_s": 0.05, "run_s": 0.05, "ttl_s": 0.05},
        settings={"poll_initial_s": 0.6},
        check=_expired,
    ),
    Case(
        "ct-status-404-after-ttl",
        JobState.EXPIRED,
        provider=CT,
        emulator={"queue_s": 0.05, "run_s": 0.05, "ttl_s": 0.05},
        settings={"poll_initial_s": 0.6},
        check=_expired,
    ),
    Case(
        "rp-outcome-failed",
        JobState.FAILED,
        emulator={"outcome": "fail", "fail_error": "CUDA out of memory on worker"},
        check=_says("CUDA out of memory on worker"),
    ),
    Case("rp-outcome-timed-out", JobState.TIMED_OUT, emulator={"outcome": "timeout"}, check=_says("timed out")),
    Case(
        "ct-outcome-failed",
        JobState.FAILED,
        provider=CT,
        emulator={"outcome": "fail", "fail_error": "NSFW content detected"},
        check=_says("NSFW content detected"),
    ),
    Case("ct-outcome-timeout", JobState.FAILED, provider=CT, emulator={"outcome": "timeout"}, check=_says("timed out")),
    Case(
        "rp-status-401-key-revoked",
        JobState.FAILED,
        faults=_faults("status", Fault.http(401, {"error": "Unauthorized"})),
        check=_says("key was refused"),
    ),
    Case(
        "rp-our-deadline",
        JobState.TIMED_OUT,
        emulator={"queue_s": 0.1, "run_s": 30.0},
        settings={"job_timeout_s": 0.6},
        check=_says("recover it by id"),
    ),
    # --- download route ----------------------------------------------------------------------
    Case(
        "rp-download-403-then-200",
        JobState.DELIVERED,
        faults=_faults("download", Fault.http(403, "AccessDenied")),
        check=_all(_said_not_yet_delivered, _fault_served("download", "http")),
    ),
    Case(
        "rp-download-truncated-then-ok",
        JobState.DELIVERED,
        faults=_faults("download", Fault.truncated()),
        check=_all(_said_not_yet_delivered, _fault_served("download", "truncated")),
    ),
    Case("rp-download-reset-then-ok", JobState.DELIVERED, faults=_faults("download", Fault.reset())),
    Case(
        "rp-download-html-error-page-then-ok",  # a CDN's 200 "error page" is not an MP4
        JobState.DELIVERED,
        faults=_faults("download", Fault.http(200, "<html><body>Service busy</body></html>")),
        check=_said_not_yet_delivered,
    ),
    Case(
        "rp-download-slower-than-its-timeout",
        JobState.DELIVERED,
        faults=_faults("download", Fault.delay(1.5)),
        settings={"download_timeout_s": 0.5},
        check=_said_not_yet_delivered,
    ),
    Case(
        "rp-download-fails-until-url-expires",
        JobState.SUCCEEDED,
        faults=_faults("download", (Fault.http(403, "AccessDenied"), 1000)),
        url_ttl_s=2.0,
        check=_undelivered_keeps_url,
    ),
    Case(
        "ct-download-fails-past-budget",
        JobState.SUCCEEDED,
        provider=CT,
        faults=_faults("download", (Fault.http(500, "oops"), 1000)),
        budget_s=1.0,
        check=_undelivered_keeps_url,
    ),
    Case(
        "ct-download-truncated-then-ok", JobState.DELIVERED, provider=CT, faults=_faults("download", Fault.truncated())
    ),
    # --- submit route: never sent twice -------------------------------------------------------
    Case(
        "rp-submit-503",
        JobState.SUBMITTED,
        faults=_faults("submit", Fault.http(503, {"error": "busy"})),
        check=_submit_answer_lost,
    ),
    Case(
        "rp-submit-502-html", JobState.SUBMITTED, faults=_faults("submit", Fault.html(502)), check=_submit_answer_lost
    ),
    Case("rp-submit-reset", JobState.SUBMITTED, faults=_faults("submit", Fault.reset()), check=_submit_answer_lost),
    Case(
        "rp-submit-truncated-answer",  # the job *was* created; only its answer was cut
        JobState.SUBMITTED,
        faults=_faults("submit", Fault.truncated()),
        check=_submit_answer_lost,
    ),
    Case(
        "rp-submit-malformed-answer",  # HTTP 200 with garbage: accepted (and charged), id unreadable
        JobState.SUBMITTED,
        faults=_faults("submit", Fault.malformed()),
        check=_submit_answer_lost,
    ),
    Case(
        "rp-submit-401-bad-key",
        JobState.FAILED,
        key=WRONG_KEY,
        check=_all(_submit_refused, _says("401", "key")),
    ),
    Case(
        "rp-submit-400",
        JobState.FAILED,
        faults=_faults("submit", Fault.http(400, {"error": "input.size: must look like 1280*720"})),
        check=_all(_submit_refused, _says("400", "input.size")),
    ),
    Case(
        "rp-submit-429",  # a rate-limited submit created nothing; it is refused, not resent
        JobState.FAILED,
        faults=_faults("submit", Fault.http(429, {"error": "too many requests"}, {"Retry-After": "5"})),
        check=_all(_submit_refused, _says("429")),
    ),
    Case(
        "ct-upload-503",
        JobState.SUBMITTED,
        provider=CT,
        faults=_faults("upload", Fault.http(503, {"error": "busy"})),
        check=_submit_answer_lost,
    ),
    Case(
        "ct-upload-reset",
        JobState.SUBMITTED,
        provider=CT,
        faults=_faults("upload", Fault.reset()),
        check=_submit_answer_lost,
    ),
    Case(
        "ct-upload-401-bad-key", JobState.FAILED, provider=CT, key=WRONG_KEY, check=_all(_submit_refused, _says("401"))
    ),
    Case(
        "ct-upload-400",
        JobState.FAILED,
        provider=CT,
        faults=_faults("upload", Fault.http(400, {"error": "input.duration: must be 5 or 10"})),
        check=_all(_submit_refused, _says("input.duration")),
    ),
    # --- cancel route -------------------------------------------------------------------------
    Case(
        "rp-cancel-500-while-running",
        JobState.CANCELLED,
        faults=_faults("cancel", Fault.http(500, {"error": "boom"})),
        emulator=LONG,
        cancel_after_s=0.4,
        check=_cancel_unconfirmed,
    ),
    Case(
        "rp-cancel-reset-while-running",
        JobState.CANCELLED,
        faults=_faults("cancel", Fault.reset()),
        emulator=LONG,
        cancel_after_s=0.4,
        check=_cancel_unconfirmed,
    ),
    Case(
        "rp-cancel-answered-after-the-job-finished",
        JobState.DELIVERED,
        faults=_faults("cancel", Fault.delay(1.0)),
        emulator={"queue_s": 0.1, "run_s": 0.4},
        cancel_after_s=0.25,
        check=_finished_before_cancel,
    ),
    Case(
        "ct-cancel-500-while-running",
        JobState.CANCELLED,
        provider=CT,
        faults=_faults("cancel", Fault.http(500, {"error": "boom"})),
        emulator=LONG,
        cancel_after_s=0.4,
        check=_cancel_unconfirmed,
    ),
]


def _settings(tmp_path: Path, emulator: Emulator, provider: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = dict(
        data_dir=tmp_path / "data",
        runpod_base_url=f"{emulator.base_url}/v2" if provider == RP else "http://127.0.0.1:9/v2",
        coretoday_base_url=f"{emulator.base_url}/v1" if provider == CT else "http://127.0.0.1:9/v1",
        poll_initial_s=0.05,
        poll_max_s=0.2,
        job_timeout_s=30,
        http_timeout_s=5,
        download_timeout_s=10,
    )
    values.update(overrides)
    return Settings(**values)


def _emulator(provider: str, **options: Any) -> Emulator:
    options = {"queue_s": 0.2, "run_s": 0.2, **options}
    return (RunpodEmulator if provider == RP else CoretodayEmulator)(api_key=KEY, **options)


def _request(tmp_path: Path, photo, provider: str):
    extra = {"duration_s": 5, "enable_prompt_expansion": provider == CT}
    return make_request(tmp_path, image=photo, provider=provider, **extra)


async def _drive(engine: JobEngine, job_id: str, cancel_after_s: float | None) -> list[tuple[JobState, str]]:
    seen: list[tuple[JobState, str]] = []

    async def watch() -> None:
        async for snapshot in engine.watch(job_id):
            seen.append((snapshot.state, snapshot.message))

    watcher = asyncio.create_task(watch())
    if cancel_after_s is not None:
        await asyncio.sleep(cancel_after_s)
        await engine.cancel(job_id)
    await engine.wait(job_id)
    await asyncio.wait_for(watcher, 5)
    return seen


@pytest.mark.parametrize("case", CASES, ids=str)
async def test_fault_matrix(case: Case, tmp_path, photo, monkeypatch):
    if case.budget_s is not None:
        monkeypatch.setattr(jobs.engine, "DOWNLOAD_RETRY_BUDGET_S", case.budget_s)
    if case.url_ttl_s is not None:
        monkeypatch.setitem(
            CAPABILITIES, case.provider, replace(CAPABILITIES[case.provider], result_ttl_s=case.url_ttl_s)
        )
    with _emulator(case.provider, **case.emulator) as emulator:
        for route, fault, times in case.faults:
            emulator.faults.add(route, fault, times=times)
        settings = _settings(tmp_path, emulator, case.provider, **case.settings)
        engine = JobEngine(settings, JobStore(settings.data_dir / "jobs.sqlite3"))
        try:
            job_id = await engine.start(_request(tmp_path, photo, case.provider), api_key=case.key, owner="matrix")
            seen = await _drive(engine, job_id, case.cancel_after_s)
            record = engine.snapshot(job_id)
        finally:
            await engine.aclose()
            engine.store.close()
        await _settle(emulator, sum(times for _, fault, times in case.faults if fault.kind == "delay"))
        run = Run(record, emulator, seen, settings)

        # Never submitted twice, whatever happened.
        assert emulator.submits == 1, f"{emulator.submits} submits"
        assert emulator.internal_errors == []
        assert record.state is case.expect, record.message
        _assert_outcome_is_clear(run)
        _assert_ledger_agrees(settings, record)
        if case.check is not None:
            case.check(run)


async def _settle(emulator: Emulator, delays: int) -> None:
    """Wait until the emulator answered every delayed request (it logs a request once answered)."""
    deadline = time.monotonic() + 5
    while sum(1 for r in emulator.requests if r.fault == "delay") < delays and time.monotonic() < deadline:
        await asyncio.sleep(0.05)


def _assert_outcome_is_clear(run: Run) -> None:
    record, emulator = run.record, run.emulator
    if record.state is JobState.DELIVERED:
        video = record.video
        assert video["source_sha256"] == hashlib.sha256(emulator.video_bytes).hexdigest()
        assert Path(video["path"]).is_file() and video["params_embedded"] is True
        assert hashlib.sha256(Path(video["path"]).read_bytes()).hexdigest() == video["sha256"]
        assert f'"job_id": "{record.provider_job_id}"' in read_comment(video["path"])
        assert record.provider_job_id == emulator.jobs[0].id
        assert record.message == "Done."
        return
    # A job that ended without a video says why (a cancel is the user's own choice, not an error).
    assert record.error or record.state is JobState.CANCELLED, record.message
    if record.provider_job_id is not None:
        # The id is what lets the user follow the job up (console, recover by id).
        assert record.provider_job_id in record.message, record.message
        assert record.provider_job_id == emulator.jobs[0].id
    else:
        assert record.state in (JobState.SUBMITTED, JobState.FAILED)
    assert record.state in FINAL_STATES or record.state in (JobState.SUBMITTED, JobState.SUCCEEDED)


def _assert_ledger_agrees(settings: Settings, record: JobRecord) -> None:
    store = JobStore(settings.data_dir / "jobs.sqlite3")
    try:
        stored = store.get(record.id)
    finally:
        store.close()
    assert stored is not None
    assert (stored.state, stored.message, stored.provider_job_id) == (
        record.state,
        record.message,
        record.provider_job_id,
    )
    assert KEY not in stored.to_json()


# ---- follow-ups: what the clear states are for ----------------------------------------------


async def _engine(settings: Settings) -> JobEngine:
    return JobEngine(settings, JobStore(settings.data_dir / "jobs.sqlite3"))


async def test_lost_submit_answer_then_recover_by_id_delivers_without_a_second_submit(tmp_path, photo):
    """The submit reached the provider but its answer timed out: recover the job by id, pay once."""
    with _emulator(RP) as runpod:
        runpod.faults.add("submit", Fault.delay(1.2))
        settings = _settings(tmp_path, runpod, RP, http_timeout_s=0.5)
        engine = await _engine(settings)
        try:
            lost = await engine.start(_request(tmp_path, photo, RP), api_key=KEY, owner="me")
            record = await engine.wait(lost)
            assert record.state is JobState.SUBMITTED and record.provider_job_id is None
            assert "not sent again" in record.message
            await _settle(runpod, 1)
            assert len(runpod.jobs) == 1  # it was created (and would be charged) at the provider
            provider_id = runpod.jobs[0].id
            adopted = await engine.adopt(RP, provider_id, api_key=KEY, owner="me", key_source="visitor")
            recovered = await engine.wait(adopted)
        finally:
            await engine.aclose()
    assert recovered.state is JobState.DELIVERED, recovered.message
    assert recovered.provider_job_id == provider_id
    assert recovered.video["source_sha256"] == hashlib.sha256(runpod.video_bytes).hexdigest()
    assert runpod.submits == 1


async def test_lost_submit_answer_is_not_resent_after_a_restart(tmp_path, photo):
    """A job whose submit answer was lost stays "submitted, id unknown" across restarts; never resent."""
    with _emulator(RP) as runpod:
        runpod.faults.add("submit", Fault.http(503, {"error": "busy"}))
        settings = _settings(tmp_path, runpod, RP)
        engine = await _engine(settings)
        try:
            job_id = await engine.start(_request(tmp_path, photo, RP), api_key=KEY, owner="me", key_source="visitor")
            await engine.wait(job_id)
        finally:
            await engine.aclose()
            engine.store.close()
        for _ in range(2):
            restarted = await _engine(settings)
            try:
                restarted.resume_all()
                await asyncio.sleep(0.3)
                record = restarted.snapshot(job_id)
            finally:
                await restarted.aclose()
                restarted.store.close()
            assert record.state is JobState.SUBMITTED and record.provider_job_id is None
            assert record.timeline[-1]["note"] == "id unknown" and "not submitted again" in record.message
        assert runpod.submits == 1


async def test_stray_404s_do_not_end_a_running_job(tmp_path, photo):
    """Two stray 404s while the job still runs (a proxy glitch) do not end it; it is delivered."""
    with _emulator(RP, queue_s=0.1, run_s=1.0) as runpod:
        runpod.faults.add("status", Fault.http(404, {"error": "job not found"}), times=2)
        settings = _settings(tmp_path, runpod, RP)
        engine = await _engine(settings)
        try:
            job_id = await engine.start(_request(tmp_path, photo, RP), api_key=KEY, owner="me")
            record = await engine.wait(job_id)
        finally:
            await engine.aclose()
    assert record.state is JobState.DELIVERED, record.message
    assert runpod.submits == 1


async def test_expired_job_stays_recoverable_by_id(tmp_path, photo):
    """A job that really disappears (404 every time) ends as "expired" with its id; adopting it later works."""
    with _emulator(RP, queue_s=0.1, run_s=1.0) as runpod:
        runpod.faults.add("status", Fault.http(404, {"error": "job not found"}), times=3)
        settings = _settings(tmp_path, runpod, RP)
        engine = await _engine(settings)
        try:
            job_id = await engine.start(_request(tmp_path, photo, RP), api_key=KEY, owner="me")
            record = await engine.wait(job_id)
            assert record.state is JobState.EXPIRED and record.provider_job_id in record.message
            adopted = await engine.adopt(RP, record.provider_job_id, api_key=KEY, owner="me", key_source="visitor")
            recovered = await engine.wait(adopted)
        finally:
            await engine.aclose()
    assert recovered.state is JobState.DELIVERED, recovered.message
    assert runpod.submits == 1


@pytest.mark.parametrize("key_source", ["server", "visitor"])
async def test_undelivered_job_is_delivered_after_a_restart(tmp_path, photo, monkeypatch, key_source):
    """Succeeded-but-undelivered stays active in the ledger; the next start downloads it, no resubmit.

    The result URL needs no key, so a job run with a visitor's session key (gone after the restart)
    must not wait for that key: by the time its owner returns, the provider may have forgotten the job.
    """
    monkeypatch.setattr(jobs.engine, "DOWNLOAD_RETRY_BUDGET_S", 0.5)
    if key_source == "server":
        monkeypatch.setenv("CORETODAY_API_KEY", KEY)
    with _emulator(CT) as coretoday:
        coretoday.faults.add("download", Fault.http(503, "busy"), times=1000)
        settings = _settings(tmp_path, coretoday, CT)
        engine = await _engine(settings)
        try:
            job_id = await engine.start(_request(tmp_path, photo, CT), api_key=KEY, owner="me", key_source=key_source)
            first = await engine.wait(job_id)
        finally:
            await engine.aclose()
            engine.store.close()
        assert first.state is JobState.SUCCEEDED and first.remote_url in first.message
        coretoday.faults.clear()
        polls_before = coretoday.status_polls

        restarted = await _engine(settings)
        try:
            assert restarted.resume_all() == 1
            record = await asyncio.wait_for(restarted.wait(job_id), 10)
        finally:
            await restarted.aclose()
    assert record.state is JobState.DELIVERED, record.message
    assert record.video["source_sha256"] == hashlib.sha256(coretoday.video_bytes).hexdigest()
    assert coretoday.submits == 1
    assert coretoday.status_polls == polls_before  # went straight to the stored URL
