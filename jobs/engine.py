"""The job engine: submit once, persist, poll, download, record. No Gradio in here.

A job runs as its own asyncio task on the server's loop. UI events *watch* it; a closed tab only
stops watching. An explicit cancel reaches the provider exactly once. At start-up every unfinished
job in the ledger resumes; a submit is never repeated.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import traceback
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from errors import (
    AuthError,
    DownloadError,
    InvalidRequestError,
    ProtocolError,
    ProviderError,
    ProviderUnavailable,
    RateLimitError,
    redact,
)
from jobs import delivery
from jobs.access import AccessPolicy
from jobs.models import GenerationRequest, JobState, ProviderStatus, utc_now
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
CANCEL_WAIT_S = 30.0
EXPIRED_AFTER_404S = 3
DOWNLOAD_RETRY_BUDGET_S = 3600.0  # when the provider does not document how long its URL lives


@dataclass
class _LiveJob:
    record: JobRecord
    provider: Provider = field(repr=False)  # holds the key; never persisted
    request: GenerationRequest | None = None  # only needed while the submit is pending
    started: float = field(default_factory=time.monotonic)
    task: asyncio.Task | None = None
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    cancel_requested: bool = False
    cancel_sent: bool = False


class JobEngine:
    """Owns the shared HTTP client, the ledger and every running job of this process."""

    def __init__(self, settings: Settings, store: JobStore, policy: AccessPolicy | None = None) -> None:
        self.settings = settings
        self.store = store
        self.policy = policy or AccessPolicy(settings)
        self._address_policy = AddressPolicy(allow_private=settings.allow_private_urls).with_origins(
            settings.provider_base_urls
        )
        self._http: httpx.AsyncClient | None = None
        self._jobs: dict[str, _LiveJob] = {}
        self._admission = asyncio.Lock()

    @property
    def http(self) -> httpx.AsyncClient:
        """The one shared client, created on first use inside the running loop."""
        if self._http is None:
            self._http = make_client(self._address_policy, self.settings.http_timeout_s)
        return self._http

    @contextlib.asynccontextmanager
    async def lifespan(self, _app=None):
        """Server lifespan: resume unfinished jobs at start-up, close the client at shutdown."""
        self.resume_all()
        yield
        await self.aclose()

    async def aclose(self) -> None:
        for live in self._jobs.values():
            if live.task and not live.task.done():
                live.task.cancel()
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    # ---- starting jobs ------------------------------------------------------------------

    async def start(
        self,
        request: GenerationRequest,
        *,
        api_key: str | None,
        owner: str,
        key_source: str = "none",
        visitor: str | None = None,
        admit: Callable[[], None] | None = None,
        client_key: str | None = None,
    ) -> str:
        """Record the job, then submit it in a background task. Returns our job id.

        `admit` (quota checks) runs under a lock together with the recording. A repeated
        `client_key` from the same owner returns the existing job instead of a new one.
        """
        async with self._admission:
            if client_key:
                existing = self.store.find_by_client_key(owner, client_key)
                if existing is not None:
                    return existing.id
            if admit is not None:
                admit()
            provider = PROVIDERS[request.provider](self.http, self.settings, api_key)
            record = self._new_record(request, provider, owner, key_source, visitor, client_key)
            self.store.save(record)  # the row exists before anything is sent
            return self._launch(_LiveJob(record=record, provider=provider, request=request))

    def _new_record(self, request, provider, owner, key_source, visitor, client_key) -> JobRecord:
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
            client_key=client_key,
            inputs={
                "image": str(request.image.path),
                **({"audio": str(request.audio.path)} if request.audio else {}),
            },
        )
        amount, text = estimate_price(request.provider, request.resolution, request.duration_s)
        currency = CAPABILITIES[request.provider].price.currency
        record.cost = {"source": "estimate", "amount": amount, "currency": currency, "text": text}
        record.thumbnail = delivery.make_thumbnail(request.image.path, self._thumb_path(record.id))
        record.mark(JobState.CREATED, "inputs checked; submitting")
        record.message = f"Submitting to {request.provider}…"
        return record

    async def adopt(
        self, provider_name: str, provider_job_id: str, *, api_key: str | None, owner: str, key_source: str
    ) -> str:
        """Recover a job submitted elsewhere (or lost): poll it, download it, record it."""
        provider = PROVIDERS[provider_name](self.http, self.settings, api_key)
        summary = {"adopted": True, "provider": provider_name, "provider_job_id": provider_job_id}
        record = JobRecord(
            id=uuid.uuid4().hex,
            owner=owner,
            provider=provider_name,
            state=JobState.SUBMITTED,
            request=summary,
            request_hash=request_hash(summary),
            endpoint=provider.endpoint,
            provider_job_id=provider_job_id,
            key_source=key_source,
        )
        record.mark(JobState.SUBMITTED, f"recovered by id {provider_job_id}; the original request is unknown")
        record.message = f"Recovering job {provider_job_id} from {provider_name}…"
        self.store.save(record)
        return self._launch(_LiveJob(record=record, provider=provider))

    def resume_all(self) -> int:
        """At start-up: continue every unfinished job in the ledger. Never resubmits a paid job."""
        resumed = 0
        for record in self.store.list_active():
            if record.id in self._jobs:
                continue
            self._resume(record)
            resumed += 1
        return resumed

    def _resume(self, record: JobRecord) -> None:
        caps = CAPABILITIES[record.provider]
        if record.provider_job_id is None and record.state in (JobState.CREATED, JobState.SUBMITTED):
            self._close_unsent(record)
            return
        key = self.policy.server_key(caps) if record.key_source == "server" else None
        provider = PROVIDERS[record.provider](self.http, self.settings, key)
        live = _LiveJob(record=record, provider=provider)
        if record.provider == "preview" and record.state is not JobState.SUCCEEDED:
            live.request = _rebuild_request(record)
            if live.request is None:
                self._fail(
                    live, JobState.FAILED, "The server restarted during this free preview; press Generate again."
                )
                self.store.save(record)
                return
            record.provider_job_id = None
        elif caps.needs_key and key is None and not (record.state is JobState.SUCCEEDED and record.remote_url):
            # (A succeeded job only needs its result URL downloaded, which takes no key.)
            record.mark(JobState.NEEDS_KEY, "the app restarted; a session key is needed to continue")
            record.message = (
                f"Needs your key: the app restarted while job {record.provider_job_id} was at {record.provider}. "
                "Paste your key and press Resume; the job is not submitted again."
            )
        else:
            record.message = f"Resumed after a restart; still following job {record.provider_job_id}."
        self.store.save(record)
        self._launch(live)

    def _close_unsent(self, record: JobRecord) -> None:
        """A job that died before its id was known: never submitted again automatically."""
        if record.submit_sent_at:
            record.error = record.message = (
                f"The app stopped after sending this job to {record.provider} (at {record.submit_sent_at}) "
                "but before its job id was recorded. It was not submitted again, to avoid a second charge: "
                f"check your {record.provider} console for a job submitted at that time, and recover it by id."
            )
            record.mark(JobState.SUBMITTED, "id unknown")
        else:
            record.error = record.message = "The app stopped before this job was sent; nothing was charged."
            record.mark(JobState.FAILED, "never sent")
        self.store.save(record)

    async def supply_key(self, job_id: str, owner: str, api_key: str) -> bool:
        """Give a job waiting as "needs your key" its owner's key; it continues at once."""
        live = self._jobs.get(job_id)
        if live is None or live.record.owner != owner or live.record.state is not JobState.NEEDS_KEY:
            return False
        live.provider = PROVIDERS[live.record.provider](self.http, self.settings, api_key)
        live.record.key_source = "visitor"
        live.wake.set()
        return True

    def _launch(self, live: _LiveJob) -> str:
        self._jobs[live.record.id] = live
        live.task = asyncio.create_task(self._run(live), name=f"job:{live.record.id}")
        return live.record.id

    # ---- reading jobs -------------------------------------------------------------------

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

    def running_for_owner(self, owner: str) -> list[str]:
        return [job_id for job_id, live in self._jobs.items() if live.record.owner == owner and self.is_running(job_id)]

    def running_count(self, *, key_source: str, visitor: str | None = None) -> int:
        """Running jobs on `key_source`, optionally only this visitor's."""
        return sum(
            1
            for job_id, live in self._jobs.items()
            if self.is_running(job_id)
            and live.record.key_source == key_source
            and (visitor is None or live.record.visitor == visitor)
        )

    def history(self, owner: str, limit: int = 50) -> list[JobRecord]:
        """The owner's jobs, newest first, with live state for running ones."""
        return [self.snapshot(r.id) if r.id in self._jobs else r for r in self.store.list_for_owner(owner, limit)]

    def delete(self, job_id: str, owner: str) -> bool:
        """Delete a finished job of `owner` and its files."""
        if self.is_running(job_id):
            return False
        record = self.store.get(job_id)
        if record is None or record.owner != owner or not self.store.delete(job_id, owner):
            return False
        self._jobs.pop(job_id, None)
        for name in (f"{job_id}.mp4", f"{job_id}.params.json", f"thumbs/{job_id}.jpg"):
            (self.settings.videos_dir / name).unlink(missing_ok=True)
        return True

    async def watch(self, job_id: str) -> AsyncIterator[JobRecord]:
        """Yield a snapshot now and after every change, until the job's task ends."""
        live = self._jobs.get(job_id)
        if live is None:
            yield self.snapshot(job_id)
            return
        while True:
            event = live.changed
            yield JobRecord.from_json(live.record.to_json())
            if live.task is None or live.task.done():
                return
            await event.wait()

    async def wait(self, job_id: str) -> JobRecord:
        live = self._jobs.get(job_id)
        if live is not None and live.task is not None:
            await asyncio.shield(live.task)
        return self.snapshot(job_id)

    async def cancel(self, job_id: str) -> JobRecord:
        """Ask for cancellation and wait (bounded) until the provider answered."""
        live = self._jobs.get(job_id)
        if live is None or live.task is None or live.task.done():
            return self.snapshot(job_id)
        if live.record.state is JobState.SUCCEEDED:
            return self.snapshot(job_id)  # finished and paid for: nothing to cancel; the video is kept
        live.cancel_requested = True
        live.wake.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(live.task), CANCEL_WAIT_S)
        return self.snapshot(job_id)

    # ---- the job's own task -------------------------------------------------------------

    def _thumb_path(self, job_id: str) -> Path:
        return self.settings.videos_dir / "thumbs" / f"{job_id}.jpg"

    def _changed(self, live: _LiveJob) -> None:
        record, secret = live.record, live.provider.secret
        keep = (record.provider_job_id,)
        record.message = redact(record.message, (secret,), keep=keep)
        if record.error:
            record.error = redact(record.error, (secret,), keep=keep)
        for entry in record.timeline:
            if "note" in entry:
                entry["note"] = redact(entry["note"], (secret,), keep=keep)
        self.store.save(record)
        event, live.changed = live.changed, asyncio.Event()
        event.set()

    async def _run(self, live: _LiveJob) -> None:
        try:
            if live.request is not None and not await self._submit(live):
                return
            if live.record.state is JobState.NEEDS_KEY and not await self._await_key(live):
                return
            if live.record.state is JobState.SUCCEEDED and live.record.remote_url:
                status = ProviderStatus(JobState.SUCCEEDED, raw_status="resumed", video_url=live.record.remote_url)
            else:
                status = await self._poll(live)
            if status is not None and status.state is JobState.SUCCEEDED:
                await self._deliver(live, status)
        except asyncio.CancelledError:
            live.record.message = "The server stopped while this job was running; it resumes at the next start."
            raise
        except Exception as exc:  # a bug must end the job visibly, keeping its ids
            trace = redact(traceback.format_exc(), (live.provider.secret,))
            log.error("job %s crashed:\n%s", live.record.id, trace)
            self._fail(live, JobState.FAILED, f"Internal error ({type(exc).__name__}).")
        finally:
            self._changed(live)

    def _fail(self, live: _LiveJob, state: JobState, message: str) -> None:
        record = live.record
        if record.provider_job_id and record.provider_job_id not in message:
            message += f" Provider job id: {record.provider_job_id}."
        record.error = message
        record.message = message
        record.mark(state, message)

    async def _submit(self, live: _LiveJob) -> bool:
        record = live.record
        record.submit_sent_at = utc_now()
        self._changed(live)  # on disk before the POST: a crash after this never resubmits
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
        live.request = None
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

    async def _await_key(self, live: _LiveJob) -> bool:
        """Wait until the owner supplies a key (or cancels)."""
        self._changed(live)
        while live.provider.secret is None:
            if live.cancel_requested:
                live.record.message = "Stopped following the job; without a key the provider could not be told."
                live.record.mark(JobState.CANCELLED, "no key to cancel with")
                return False
            live.wake.clear()
            await live.wake.wait()
        live.record.mark(JobState.SUBMITTED, "key supplied; following the job again")
        live.record.message = f"Key received; following job {live.record.provider_job_id} again."
        live.started = time.monotonic()
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
        not_found = 0  # consecutive 404s: one stray 404 (a proxy glitch) must not end a paid job
        while True:
            if live.cancel_requested:
                return await self._cancel_remote(live)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self._fail(
                    live,
                    JobState.TIMED_OUT,
                    f"No result within {_span(self.settings.job_timeout_s)}; we stopped waiting. "
                    "The job may still finish at the provider: recover it by id later.",
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
                if exc.status_code != 404:
                    raise
                not_found += 1
                if not_found >= EXPIRED_AFTER_404S:
                    self._fail(live, JobState.EXPIRED, f"{record.provider} no longer knows job {job_id}.")
                    return None
                record.message = f"{record.provider} answered 404 for job {job_id}; checking again."
                self._changed(live)
                continue
            not_found = 0
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
        if status.actual_prompt:
            record.actual_prompt = status.actual_prompt
        if status.state is JobState.UNKNOWN:
            record.message = f"{record.provider} reported an unrecognised status {status.raw_status!r}; still waiting."
        elif status.state in (JobState.QUEUED, JobState.RUNNING, JobState.SUCCEEDED):
            record.mark(status.state)
            record.message = {
                JobState.QUEUED: f"Queued at {record.provider}.",
                JobState.RUNNING: f"Running at {record.provider}.",
                JobState.SUCCEEDED: "Finished; fetching the video…",
            }[status.state]
            if status.state is JobState.SUCCEEDED and record.remote_expires_at is None:
                record.remote_expires_at = delivery.expiry_after(CAPABILITIES[record.provider].result_ttl_s)
        self._changed(live)

    async def _cancel_remote(self, live: _LiveJob) -> ProviderStatus | None:
        """Send the provider's cancel exactly once; keep a result that beat the cancel."""
        record, job_id = live.record, live.record.provider_job_id or ""
        if live.cancel_sent:
            return None
        live.cancel_sent = True
        record.cancel = {"requested_at": utc_now(), "confirmed": None}
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
            source = status.video_path
        else:
            source = dest
            if not await self._download(live, status.video_url or "", dest):
                return
        record.video = await asyncio.to_thread(delivery.finish_video, record, source, dest)
        if record.thumbnail is None:
            record.thumbnail = await asyncio.to_thread(delivery.poster_thumbnail, dest, self._thumb_path(record.id))
        record.message = "Done."
        record.mark(JobState.DELIVERED, f"video stored ({record.video['bytes']} bytes)")

    async def _download(self, live: _LiveJob, url: str, dest: Path) -> bool:
        """Download while the remote URL lives; on giving up the job stays succeeded, undelivered."""
        record = live.record
        left = delivery.seconds_left(record.remote_expires_at)
        budget = max(left, 0) if left is not None else DOWNLOAD_RETRY_BUDGET_S
        give_up_at = asyncio.get_running_loop().time() + budget

        def on_retry(reason: str, delay: float) -> None:
            record.message = f"Succeeded, not yet delivered: download failed ({reason}); retrying in {delay:.0f} s."
            self._changed(live)

        try:
            await delivery.fetch_with_retries(
                self.http,
                url,
                dest,
                max_bytes=self.settings.max_video_bytes,
                timeout_s=self.settings.download_timeout_s,
                give_up_at=give_up_at,
                on_retry=on_retry,
            )
        except DownloadError as exc:
            record.error = record.message = (
                f"Succeeded at {record.provider}, but the video could not be downloaded ({exc}). "
                f"Job id {record.provider_job_id}; remote URL {url}."
            )
            record.mark(JobState.SUCCEEDED, "not delivered")
            return False
        return True


def _span(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds >= 60 else f"{seconds:.0f} s"


def _rebuild_request(record: JobRecord) -> GenerationRequest | None:
    """A preview request from the ledger (previews are free to run again after a restart)."""
    from jobs.models import PreparedAudio, Resolution
    from media.images import PreparedImage

    image_path = Path(record.inputs.get("image", ""))
    audio_path = record.inputs.get("audio")
    if not image_path.is_file() or (audio_path and not Path(audio_path).is_file()):
        return None
    req, image = record.request, record.request["image"]
    prepared = PreparedImage(
        path=image_path,
        width=image["width"],
        height=image["height"],
        mime=image["mime"],
        size_bytes=image["bytes"],
        sha256=image["sha256"],
        source_width=image["width"],
        source_height=image["height"],
        source_format=image["mime"].split("/")[1].upper(),
        orientation=image["orientation"],
        notes=(),
    )
    audio = None
    if audio_path:
        meta = req["audio"]
        audio = PreparedAudio(
            Path(audio_path),
            meta["format"],
            "audio/wav",
            meta["duration_s"],
            meta["bytes"],
            meta["sha256"],
            meta["source_duration_s"],
            meta["start_s"],
        )
    return GenerationRequest(
        provider=record.provider,
        prompt=req["prompt"],
        image=prepared,
        resolution=Resolution(req["resolution"]),
        duration_s=req["duration_s"],
        seed=req["seed"],
        negative_prompt=req["negative_prompt"],
        audio=audio,
        enable_prompt_expansion=req["enable_prompt_expansion"],
        enable_safety_checker=req["enable_safety_checker"],
        seed_was_random=req["seed_was_random"],
    )
