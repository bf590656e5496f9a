"""The job engine: submit once, persist, poll, download, record. No Gradio in here.

A job runs as its own asyncio task on the server's loop. UI events *watch* it; a closed tab
only stops watching. An explicit cancel reaches the provider exactly once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import httpx

from errors import (
    AuthError,
    DownloadError,
    InvalidRequestError,
    JobError,
    ProtocolError,
    ProviderError,
    ProviderUnavailable,
    RateLimitError,
    redact,
)
from jobs.download import download_video
from jobs.models import GenerationRequest, JobState, ProviderStatus
from jobs.record import JobRecord, request_hash
from jobs.store import JobStore
from net.guard import AddressPolicy
from net.http import ambiguous_submit_failure, make_client
from providers import PROVIDERS, Provider, estimate_price
from providers.capabilities import CAPABILITIES
from settings import Settings

__all__ = ["JobEngine"]

log = logging.getLogger(__name__)

POLL_GROWTH = 1.5
PREVIEW_POLL_MAX_S = 0.5
DOWNLOAD_ATTEMPTS = 4
CANCEL_WAIT_S = 30.0


@dataclass
class _LiveJob:
    record: JobRecord
    provider: Provider = field(repr=False)  # holds the key; never persisted
    request: GenerationRequest
    started: float = field(default_factory=time.monotonic)
    task: asyncio.Task | None = None
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    cancel_requested: bool = False
    cancel_sent: bool = False


class JobEngine:
    """Owns the shared HTTP client, the ledger and every running job of this process."""

    def __init__(self, settings: Settings, store: JobStore) -> None:
        self.settings = settings
        self.store = store
        self._policy = AddressPolicy(allow_private=settings.allow_private_urls).with_origins(
            settings.provider_base_urls
        )
        self._http: httpx.AsyncClient | None = None
        self._jobs: dict[str, _LiveJob] = {}
        self._admission = asyncio.Lock()

    @property
    def http(self) -> httpx.AsyncClient:
        """The one shared client, created on first use inside the running loop."""
        if self._http is None:
            self._http = make_client(self._policy)
        return self._http

    async def aclose(self) -> None:
        for live in self._jobs.values():
            if live.task and not live.task.done():
                live.task.cancel()
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    # ---- public verbs -------------------------------------------------------------------

    async def start(
        self,
        request: GenerationRequest,
        *,
        api_key: str | None,
        owner: str,
        key_source: str = "none",
        visitor: str | None = None,
        admit: Callable[[], None] | None = None,
    ) -> str:
        """Record the job, then submit it in a background task. Returns our job id.

        `admit` runs under a lock just before the job is recorded, so quota checks and the new
        job are atomic with respect to other starts.
        """
        async with self._admission:
            if admit is not None:
                admit()
            return self._start(request, api_key=api_key, owner=owner, key_source=key_source, visitor=visitor)

    def running_count(self, *, key_source: str, visitor: str | None = None) -> int:
        """Running jobs on `key_source`, optionally only this visitor's."""
        return sum(
            1
            for live in self._jobs.values()
            if live.task is not None
            and not live.task.done()
            and live.record.key_source == key_source
            and (visitor is None or live.record.visitor == visitor)
        )

    def _start(self, request, *, api_key, owner, key_source, visitor) -> str:
        provider = PROVIDERS[request.provider](self.http, self.settings, api_key)
        summary = request.summary()
        record = JobRecord(
            id=uuid.uuid4().hex,
            owner=owner,
            provider=request.provider,
            state=JobState.CREATED,
            request=summary,
            request_hash=request_hash(summary),
            endpoint=provider.endpoint,
            key_source=key_source,
            visitor=visitor,
        )
        amount, text = estimate_price(request.provider, request.resolution, request.duration_s)
        currency = CAPABILITIES[request.provider].price.currency
        record.cost = {"source": "estimate", "amount": amount, "currency": currency, "text": text}
        record.mark(JobState.CREATED, "inputs checked; submitting")
        record.message = f"Submitting to {request.provider}…"
        self.store.save(record)  # the row exists before anything is sent
        live = _LiveJob(record=record, provider=provider, request=request)
        self._jobs[record.id] = live
        live.task = asyncio.create_task(self._run(live), name=f"job:{record.id}")
        return record.id

    def snapshot(self, job_id: str) -> JobRecord:
        """A copy of the job's current record (from memory, else from the ledger)."""
        live = self._jobs.get(job_id)
        if live is not None:
            return JobRecord.from_json(live.record.to_json())
        record = self.store.get(job_id)
        if record is None:
            raise KeyError(job_id)
        return record

    def is_running(self, job_id: str) -> bool:
        live = self._jobs.get(job_id)
        return bool(live and live.task and not live.task.done())

    async def watch(self, job_id: str) -> AsyncIterator[JobRecord]:
        """Yield a snapshot now and after every change, until the job's task ends."""
        live = self._jobs[job_id]
        while True:
            event = live.changed
            yield JobRecord.from_json(live.record.to_json())
            if live.task is None or live.task.done():
                return
            await event.wait()

    async def wait(self, job_id: str) -> JobRecord:
        live = self._jobs[job_id]
        if live.task is not None:
            await asyncio.shield(live.task)
        return self.snapshot(job_id)

    async def cancel(self, job_id: str) -> JobRecord:
        """Ask for cancellation and wait (bounded) until the provider answered."""
        live = self._jobs.get(job_id)
        if live is None or live.task is None or live.task.done():
            return self.snapshot(job_id)
        live.cancel_requested = True
        live.wake.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(live.task), CANCEL_WAIT_S)
        return self.snapshot(job_id)

    # ---- the job's own task -------------------------------------------------------------

    def _changed(self, live: _LiveJob) -> None:
        record, secret = live.record, live.provider.secret
        record.message = redact(record.message, (secret,))
        if record.error:
            record.error = redact(record.error, (secret,))
        for entry in record.timeline:
            if "note" in entry:
                entry["note"] = redact(entry["note"], (secret,))
        self.store.save(record)
        event, live.changed = live.changed, asyncio.Event()
        event.set()

    async def _run(self, live: _LiveJob) -> None:
        try:
            if not await self._submit(live):
                return
            status = await self._poll(live)
            if status is not None and status.state is JobState.SUCCEEDED:
                await self._deliver(live, status)
        except JobError as exc:
            # Succeeded at the provider but not delivered: keep the state and the remote URL.
            live.record.error = live.record.message = str(exc)
            live.record.mark(JobState.SUCCEEDED, "not delivered")
        except asyncio.CancelledError:
            live.record.message = "The server stopped while this job was running; its id is kept."
            raise
        except Exception as exc:  # a bug must end the job visibly, keeping its ids
            log.exception("job %s crashed", live.record.id)
            self._fail(live, JobState.FAILED, f"Internal error ({type(exc).__name__}).")
        finally:
            self._changed(live)

    def _fail(self, live: _LiveJob, state: JobState, message: str) -> None:
        record = live.record
        if record.provider_job_id:
            message += f" Provider job id: {record.provider_job_id}."
        record.error = message
        record.message = message
        record.mark(state, message)

    async def _submit(self, live: _LiveJob) -> bool:
        record = live.record
        try:
            submission = await live.provider.submit(live.request)
        except ProviderError as exc:
            if ambiguous_submit_failure(exc):
                note = (
                    f"The submit may have reached {record.provider} but its answer was lost ({exc}). "
                    "It was not sent again, to avoid a second charge: check the provider's console."
                )
                record.error = record.message = note
                record.mark(JobState.SUBMITTED, "id unknown")
                return False
            self._fail(live, JobState.FAILED, f"Submit refused: {exc}")
            return False
        record.provider_job_id = submission.job_id
        record.endpoint = submission.endpoint
        record.request_body = submission.request_body
        record.media_transport = submission.media_transport
        record.mark(JobState.SUBMITTED, f"job id {submission.job_id}")
        self._changed(live)  # the provider's id is on disk the moment we know it
        record.mark(submission.state)
        record.message = f"Submitted to {record.provider} (job {submission.job_id})."
        self._changed(live)
        return True

    def _poll_cap(self, live: _LiveJob) -> float:
        return PREVIEW_POLL_MAX_S if live.record.provider == "preview" else self.settings.poll_max_s

    async def _sleep(self, live: _LiveJob, seconds: float) -> None:
        """Sleep, but wake at once when a cancel is requested."""
        live.wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(live.wake.wait(), timeout=max(seconds, 0))

    async def _poll(self, live: _LiveJob) -> ProviderStatus | None:
        record, provider = live.record, live.provider
        job_id = record.provider_job_id or ""
        interval = self.settings.poll_initial_s
        deadline = live.started + self.settings.job_timeout_s
        while True:
            if live.cancel_requested:
                return await self._cancel_remote(live)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self._fail(
                    live,
                    JobState.TIMED_OUT,
                    f"No result within {self.settings.job_timeout_s / 60:.0f} min; we stopped waiting. "
                    "The job may still finish at the provider.",
                )
                return None
            await self._sleep(live, min(interval, remaining))
            if live.cancel_requested:
                continue
            interval = min(interval * POLL_GROWTH, self._poll_cap(live))
            try:
                status = await provider.status(job_id)
            except RateLimitError as exc:
                interval = max(interval, exc.retry_after_s or interval)
                record.message = f"{record.provider} asked us to slow down; still waiting."
                self._changed(live)
                continue
            except (ProviderUnavailable, ProtocolError) as exc:
                record.message = f"Checking status failed for now ({exc}); still trying."
                self._changed(live)
                continue
            except AuthError as exc:
                self._fail(live, JobState.FAILED, f"The key was refused while checking the job ({exc}).")
                return None
            except InvalidRequestError as exc:
                if exc.status_code == 404:
                    self._fail(live, JobState.EXPIRED, f"{record.provider} no longer knows this job.")
                    return None
                raise
            self._apply(live, status)
            if status.state is JobState.SUCCEEDED:
                return status
            if status.state.is_final:
                self._fail(live, status.state, status.error or f"{record.provider} reported {status.raw_status}.")
                return None

    def _apply(self, live: _LiveJob, status: ProviderStatus) -> None:
        record = live.record
        record.raw_status = status.raw_status
        record.progress = status.progress
        record.queue_position = status.queue_position
        if status.queue_ms is not None:
            record.provider_timings["queue_ms"] = status.queue_ms
        if status.run_ms is not None:
            record.provider_timings["run_ms"] = status.run_ms
        if status.cost_usd is not None:
            record.cost = {
                "source": "provider",
                "amount": status.cost_usd,
                "currency": "USD",
                "text": f"${status.cost_usd:.2f} (reported by {record.provider})",
            }
        if status.video_url:
            record.remote_url = status.video_url
        if status.state is JobState.UNKNOWN:
            record.message = f"{record.provider} reported an unrecognised status {status.raw_status!r}; still waiting."
        elif status.state in (JobState.QUEUED, JobState.RUNNING, JobState.SUCCEEDED):
            record.mark(status.state)
            record.message = {
                JobState.QUEUED: f"Queued at {record.provider}.",
                JobState.RUNNING: f"Running at {record.provider}.",
                JobState.SUCCEEDED: "Finished; fetching the video…",
            }[status.state]
        self._changed(live)

    async def _cancel_remote(self, live: _LiveJob) -> ProviderStatus | None:
        """Send the provider's cancel exactly once; keep a result that beat the cancel."""
        record, job_id = live.record, live.record.provider_job_id or ""
        if live.cancel_sent:
            return None
        live.cancel_sent = True
        record.cancel = {"requested_at": record.timeline[-1]["at"], "confirmed": None}
        record.message = f"Cancelling at {record.provider}…"
        self._changed(live)
        try:
            confirmed = await live.provider.cancel(job_id)
            detail = ""
        except ProviderError as exc:
            confirmed, detail = False, f" ({exc})"
        record.cancel["confirmed"] = confirmed
        if confirmed:
            record.message = f"Cancelled: {record.provider} confirmed the cancel of job {job_id}."
            record.mark(JobState.CANCELLED, "confirmed by provider")
            return None
        status = await self._last_look(live)
        if status is not None and status.state is JobState.SUCCEEDED:
            record.cancel["note"] = "the job finished before the cancel arrived; its video is kept"
            self._apply(live, status)
            return status
        record.message = (
            f"Cancel requested, but {record.provider} did not confirm it{detail}. "
            f"The job may still run and be charged; job id {job_id}."
        )
        record.mark(JobState.CANCELLED, "not confirmed by provider")
        return None

    async def _last_look(self, live: _LiveJob) -> ProviderStatus | None:
        try:
            return await live.provider.status(live.record.provider_job_id or "")
        except ProviderError:
            return None

    async def _deliver(self, live: _LiveJob, status: ProviderStatus) -> None:
        record = live.record
        dest = self.settings.videos_dir / f"{record.id}.mp4"
        dest.parent.mkdir(parents=True, exist_ok=True)
        if status.video_path is not None:
            await asyncio.to_thread(shutil.move, status.video_path, dest)
        else:
            await self._download(live, status.video_url or "", dest)
        from media.video import probe_video

        info = await asyncio.to_thread(probe_video, dest)
        digest = await asyncio.to_thread(_sha256_file, dest)
        record.video = {
            "file": dest.name,
            "path": str(dest),
            "sha256": digest,
            "bytes": dest.stat().st_size,
            "codec": info.video_codec,
            "pix_fmt": info.pix_fmt,
            "width": info.width,
            "height": info.height,
            "duration_s": round(info.duration_s, 3),
            "has_audio": info.has_audio,
        }
        record.message = "Done."
        record.mark(JobState.DELIVERED, f"video stored ({record.video['bytes']} bytes)")

    async def _download(self, live: _LiveJob, url: str, dest) -> None:
        delay = 1.0
        for attempt in range(1, DOWNLOAD_ATTEMPTS + 1):
            try:
                await download_video(
                    self.http,
                    url,
                    dest,
                    max_bytes=self.settings.max_video_bytes,
                    timeout_s=self.settings.download_timeout_s,
                )
                return
            except DownloadError as exc:
                if attempt == DOWNLOAD_ATTEMPTS:
                    raise JobError(
                        f"The job succeeded but its video could not be downloaded: {exc}. Remote URL: {url}",
                        job_id=live.record.id,
                        provider_job_id=live.record.provider_job_id,
                    ) from exc
                live.record.message = f"Download attempt {attempt} failed ({exc}); retrying."
                self._changed(live)
                await asyncio.sleep(delay)
                delay *= 2


def _sha256_file(path) -> str:
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
