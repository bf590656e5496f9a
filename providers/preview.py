"""The offline preview: a seeded camera move over the image, with the user's audio.

It is not AI generation and the UI says so. It exists so the whole app can be tried and tested
with no key and no network, through the same job lifecycle as a hosted provider: queued while it
waits for a render slot, running with real frame progress, then succeeded with a local file.
"""

from __future__ import annotations

import asyncio
import uuid
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from errors import InvalidRequestError
from jobs.models import GenerationRequest, JobState, ProviderStatus
from providers.base import Provider, Submission

__all__ = ["PreviewProvider"]

NAME = "preview"
FPS = 24


@dataclass
class _PreviewJob:
    request: GenerationRequest
    out_path: Path
    state: JobState = JobState.QUEUED
    progress: tuple[int, int] | None = None
    error: str | None = None
    stop: bool = False
    motion: str | None = None
    task: asyncio.Task | None = field(default=None, repr=False)


class _Renderer:
    """Per-event-loop render slots and the jobs they serve (in memory: previews are free to redo)."""

    def __init__(self, workers: int) -> None:
        self.slots = asyncio.Semaphore(max(1, workers))
        self.jobs: dict[str, _PreviewJob] = {}
        self.waiting: list[str] = []


_renderers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Renderer] = weakref.WeakKeyDictionary()


class PreviewProvider(Provider):
    """Renders locally in worker threads; no key, no network."""

    name: ClassVar[str] = NAME

    @property
    def endpoint(self) -> str:
        return "local camera-motion renderer"

    @property
    def _renderer(self) -> _Renderer:
        loop = asyncio.get_running_loop()
        if loop not in _renderers:
            _renderers[loop] = _Renderer(self._settings.preview_workers)
        return _renderers[loop]

    def _body(self, request: GenerationRequest) -> dict[str, Any]:
        image = request.image
        body: dict[str, Any] = {
            "image": f"{image.mime} ({image.size_bytes} bytes, sha256:{image.sha256})",
            "prompt": request.prompt,
            "short_side": request.resolution.short_side,
            "duration_s": request.duration_s,
            "seed": request.seed,
            "fps": FPS,
        }
        if request.audio is not None:
            body["audio"] = f"{request.audio.mime} ({request.audio.size_bytes} bytes, sha256:{request.audio.sha256})"
        return body

    async def submit(self, request: GenerationRequest) -> Submission:
        renderer = self._renderer
        job_id = f"preview-{uuid.uuid4().hex[:12]}"
        out_dir = self._settings.data_dir / "preview"
        out_dir.mkdir(parents=True, exist_ok=True)
        job = _PreviewJob(request=request, out_path=out_dir / f"{job_id}.mp4")
        renderer.jobs[job_id] = job
        renderer.waiting.append(job_id)
        job.task = asyncio.create_task(self._run(renderer, job_id, job), name=f"preview:{job_id}")
        return Submission(
            job_id=job_id,
            state=JobState.QUEUED,
            endpoint=self.endpoint,
            request_body=self._body(request),
            media_transport={"image": "local file", **({"audio": "local file"} if request.audio else {})},
        )

    async def _run(self, renderer: _Renderer, job_id: str, job: _PreviewJob) -> None:
        from media.video import RenderCancelled, render_preview

        try:
            if self._settings.preview_delay_s:
                await asyncio.sleep(self._settings.preview_delay_s)
            async with renderer.slots:
                renderer.waiting.remove(job_id)
                if job.stop:
                    job.state = JobState.CANCELLED
                    return
                job.state = JobState.RUNNING
                request = job.request
                result = await asyncio.to_thread(
                    render_preview,
                    request.image.path,
                    job.out_path,
                    short_side=request.resolution.short_side,
                    duration_s=request.duration_s,
                    seed=request.seed,
                    prompt=request.prompt,
                    audio_path=str(request.audio.path) if request.audio else None,
                    fps=FPS,
                    on_progress=lambda done, total: setattr(job, "progress", (done, total)),
                    should_stop=lambda: job.stop,
                )
                job.motion = result.motion
                job.state = JobState.SUCCEEDED
        except RenderCancelled:
            job.state = JobState.CANCELLED
        except asyncio.CancelledError:
            job.state = JobState.CANCELLED
            raise
        except Exception as exc:  # a render bug must end the job, not hang it
            job.state, job.error = JobState.FAILED, f"preview render failed: {type(exc).__name__}: {exc}"
        finally:
            if job_id in renderer.waiting:
                renderer.waiting.remove(job_id)

    async def status(self, job_id: str) -> ProviderStatus:
        renderer = self._renderer
        job = renderer.jobs.get(job_id)
        if job is None:
            raise InvalidRequestError(NAME, f"no preview job {job_id} in this process", status_code=404)
        position = renderer.waiting.index(job_id) + 1 if job_id in renderer.waiting else None
        return ProviderStatus(
            state=job.state,
            raw_status=job.state.value + (f" ({job.motion})" if job.motion else ""),
            video_path=job.out_path if job.state is JobState.SUCCEEDED else None,
            error=job.error,
            cost_usd=0.0 if job.state is JobState.SUCCEEDED else None,
            progress=job.progress,
            queue_position=position,
        )

    async def cancel(self, job_id: str) -> bool:
        job = self._renderer.jobs.get(job_id)
        if job is None or job.state.is_final or job.state is JobState.SUCCEEDED:
            return False
        job.stop = True
        return True
