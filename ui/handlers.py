"""Event handlers: thin async code that validates, starts an engine job and streams its views."""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import gradio as gr

from errors import StudioError, redact
from jobs.access import AccessPolicy, KeyChoice, KeySource, Visitor
from jobs.engine import JobEngine
from jobs.inputs import FormInputs, prepare_request
from jobs.models import JobState, utc_now
from jobs.record import JobRecord
from providers import CAPABILITIES, PROVIDERS
from ui import views
from ui.history import HistoryHandlers, owner_of

__all__ = ["Studio"]


def _small_copy(path):
    from PIL import Image

    with Image.open(path) as image:
        image = image.convert("RGB")
        image.thumbnail((480, 480))
        return image


def _visitor(request: gr.Request | None) -> Visitor:
    if request is None:
        return Visitor(id="local")
    headers = {k.lower(): v for k, v in dict(request.headers).items()} if request.headers else {}
    host = request.client.host if getattr(request, "client", None) else None
    return Visitor.from_request(getattr(request, "username", None), request.session_hash, headers, host)


class Studio(HistoryHandlers):
    """The UI's handle on the engine. One per app; holds no keys."""

    def __init__(self, engine: JobEngine, policy: AccessPolicy | None = None) -> None:
        self.engine = engine
        self.policy = policy or AccessPolicy(engine.settings)
        self._active: dict[str, str] = {}  # session hash -> running job id, for the Cancel button

    # ---- generate -----------------------------------------------------------------------

    async def generate(
        self,
        image: str | None,
        prompt: str,
        negative_prompt: str = "",
        audio: str | None = None,
        provider: str = "preview",
        resolution: str = "480p",
        duration: int = 5,
        seed: int = -1,
        enable_prompt_expansion: bool = False,
        enable_safety_checker: bool = True,
        api_key: str = "",
        image_url: str = "",
        audio_start: float = 0,
        owner_token: str = "",
        request_key: str = "",
        request: gr.Request = None,
        x_api_key: gr.Header = None,
    ) -> AsyncIterator[tuple]:
        """Generate a video from an image. Streams (status, video, params, params_file).

        API callers may send their key as `api_key` or in an `X-API-Key` header. `owner_token`
        files the job under that owner's history; a repeated `request_key` from the same owner
        returns the same job instead of starting (and paying for) a second one.
        """
        form = FormInputs(
            provider=provider,
            prompt=prompt,
            image=image,
            image_url=image_url,
            negative_prompt=negative_prompt,
            audio=audio,
            audio_start_s=audio_start,
            resolution=resolution,
            duration=duration,
            seed=seed,
            enable_prompt_expansion=enable_prompt_expansion,
            enable_safety_checker=enable_safety_checker,
        )
        yield "**Checking inputs…**", gr.skip(), gr.skip(), gr.skip()
        visitor = _visitor(request)
        given_key = (api_key or "").strip() or (x_api_key or "").strip() or None
        try:
            caps = CAPABILITIES.get(provider)
            choice = self.policy.choose_key(caps, given_key) if caps else KeyChoice(KeySource.NONE)
            generation = await prepare_request(form, out_dir=self.engine.settings.inputs_dir, http=self.engine.http)
            job_id = await self.engine.start(
                generation,
                api_key=choice.key,
                owner=owner_of(request, owner_token),
                key_source=choice.source.value,
                visitor=visitor.id,
                admit=functools.partial(self._admit, choice, visitor),
                client_key=(request_key or "").strip()[:128] or None,
            )
        except StudioError as exc:
            message = redact(str(exc), (given_key,))
            yield f"**Not started:** {views.escape(message)}", gr.skip(), gr.skip(), gr.skip()
            raise gr.Error(message, title="Please check your inputs") from None
        del choice, given_key, api_key, x_api_key
        async for outputs in self._follow(job_id, request):
            yield outputs

    async def _follow(self, job_id: str, request: gr.Request | None) -> AsyncIterator[tuple]:
        """Stream a job's views to this event; cancel it only on an explicit cancel."""
        session = request.session_hash if request is not None else None
        if session:
            self._active[session] = job_id
        try:
            async with contextlib.aclosing(self.engine.watch(job_id)) as updates:
                async for record in updates:
                    yield self._running_outputs(record)
        except asyncio.CancelledError:
            # An explicit cancel (button or client job.cancel()). A closed tab is GeneratorExit
            # instead, and the job keeps running: its result is kept.
            await asyncio.shield(self.engine.cancel(job_id))
            raise
        finally:
            if session and self._active.get(session) == job_id:
                del self._active[session]
        record = self.engine.snapshot(job_id)
        if record.state is JobState.CANCELLED:
            yield self._running_outputs(record)  # asked for: a final status, not an error
            return
        if record.state is not JobState.DELIVERED:
            yield self._running_outputs(record)
            raise gr.Error(record.message or record.state.value, title=views.PHASE[record.state])
        yield self._final_outputs(record)

    def _admit(self, choice: KeyChoice, visitor: Visitor) -> None:
        today = utc_now()[:10] + "T00:00:00"
        self.policy.admit(
            choice,
            visitor,
            today_count=self.engine.store.count_started_since(visitor.id, today, KeySource.SERVER.value),
            running_mine=self.engine.running_count(key_source=KeySource.SERVER.value, visitor=visitor.id),
            running_all=self.engine.running_count(key_source=KeySource.SERVER.value),
        )

    async def test_key(self, provider: str, api_key: str = "") -> str:
        """Check a key with the provider's cheapest authenticated call; starts no job."""
        caps = CAPABILITIES.get(provider)
        if caps is None or caps.env_api_key is None:
            return "The preview needs no key."
        key = (api_key or "").strip()
        if not key:
            return f"Paste a {caps.name} key first."
        checker = PROVIDERS[provider](self.engine.http, self.engine.settings, key)
        try:
            ok = await checker.check_key()
        except StudioError as exc:
            return f"⚠️ Could not check the key: {views.escape(redact(str(exc), (key,)))}"
        finally:
            del checker, key
        return f"✅ {caps.name} accepted this key." if ok else f"❌ {caps.name} refused this key (401/403)."

    def _running_outputs(self, record: JobRecord) -> tuple:
        return views.status_markdown(record), gr.skip(), record.params(), gr.skip()

    def _final_outputs(self, record: JobRecord) -> tuple:
        params = record.params()
        video_path = Path(record.video["path"])
        params_path = video_path.with_name(f"{record.id}.params.json")
        params_path.write_text(views.params_json(record))
        return views.status_markdown(record), str(video_path), params, str(params_path)

    # ---- cancel -------------------------------------------------------------------------

    async def cancel(self, request: gr.Request = None) -> None:
        """Cancel this session's running job; its stream reports whether the provider confirmed."""
        job_id = self._active.get(request.session_hash) if request is not None else None
        if job_id is None:
            gr.Info("Nothing to cancel.")
            return
        await self.engine.cancel(job_id)

    # ---- form helpers -------------------------------------------------------------------

    @staticmethod
    def provider_changed(provider: str, resolution: str, duration: Any) -> tuple:
        """Offer only what the provider accepts, and show its defaults."""
        caps = CAPABILITIES[provider]
        tiers = [r.value for r in caps.resolutions]
        new_res = resolution if resolution in tiers else caps.default_resolution.value
        try:
            current = int(duration)
        except (TypeError, ValueError):
            current = caps.default_duration_s
        new_dur = current if current in caps.durations_s else caps.default_duration_s
        expansion = caps.prompt_expansion_default
        safety = caps.safety_checker_default
        return (
            gr.update(choices=tiers, value=new_res),
            gr.update(choices=list(caps.durations_s), value=new_dur),
            gr.update(value=bool(expansion), interactive=expansion is not None),
            gr.update(value=True if safety is None else safety, interactive=safety is not None),
            gr.update(visible=caps.needs_key),
            views.provider_notes(caps),
            views.price_text(provider, new_res, new_dur),
        )

    async def check_image(self, image: str | None, provider: str, resolution: str) -> tuple:
        """Prepare the uploaded image now, so problems and the output geometry show before Generate."""
        from media.images import prepare_image

        if not image:
            return gr.update(value=None, visible=False), ""
        try:
            prepared = await asyncio.to_thread(prepare_image, image, out_dir=self.engine.settings.inputs_dir)
            preview = await asyncio.to_thread(_small_copy, prepared.path)
        except StudioError as exc:
            return gr.update(value=None, visible=False), f"⚠️ {views.escape(str(exc))}"
        # A PIL image, not the prepared file's path: only the videos folder is served (SECURITY.md).
        return gr.update(value=preview, visible=True), views.image_summary(prepared, provider, resolution)

    @staticmethod
    async def check_audio(audio: str | None, audio_start: Any, provider: str, duration: Any) -> str:
        """Show the audio's length and which part lands in the video."""
        from media.audio import probe_audio

        if not audio:
            return ""
        caps = CAPABILITIES.get(provider)
        try:
            info = await asyncio.to_thread(probe_audio, audio)
        except StudioError as exc:
            return f"⚠️ {views.escape(str(exc))}"
        if caps is None:
            return ""
        if not caps.accepts_audio:
            return f"⚠️ {caps.name} takes no audio; remove it or choose another provider."
        start = float(audio_start or 0)
        return views.audio_summary(info.duration_s, start, int(duration or caps.default_duration_s), caps)

    @staticmethod
    def price(provider: str, resolution: str, duration: Any) -> str:
        return views.price_text(provider, resolution, duration)

    @staticmethod
    def char_count(text: str | None, provider: str, *, field: str) -> str:
        """The live counter under a text box ("prompt" or "negative"), against the provider's limit."""
        caps = CAPABILITIES.get(provider, CAPABILITIES["preview"])
        limit = caps.max_prompt_chars if field == "prompt" else caps.max_negative_chars
        count = len(views.clean_for_count(text))
        warn = " — too long" if count > limit else ""
        return f"{count} / {limit} characters{warn}"
