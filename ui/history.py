"""Handlers for durable jobs: owner identity, reattach, history, recover by id, load settings."""

from __future__ import annotations

import re
import secrets
import shutil
import tempfile
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import gradio as gr

from errors import StudioError, redact
from jobs.models import JobState
from jobs.record import JobRecord
from jobs.replay import ReplaySettings, read_params, settings_from_params
from providers import CAPABILITIES
from ui import views

__all__ = ["HistoryHandlers", "owner_of"]

_TOKEN = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
_STATE_ICON = {
    JobState.DELIVERED: "✅",
    JobState.FAILED: "❌",
    JobState.CANCELLED: "⏹",
    JobState.TIMED_OUT: "⌛",
    JobState.EXPIRED: "⌛",
    JobState.NEEDS_KEY: "🔑",
}


def owner_of(request: gr.Request | None, token: str | None) -> str:
    """The auth/OAuth username, else the browser's owner token, else this session."""
    if request is not None and getattr(request, "username", None):
        return f"user:{request.username}"
    if token and _TOKEN.match(token):
        return f"token:{token}"
    return f"session:{request.session_hash}" if request is not None else "local"


def _caption(record: JobRecord) -> str:
    icon = _STATE_ICON.get(record.state, "⏳")
    when = datetime.fromisoformat(record.created_at.replace("Z", "+00:00")).strftime("%m-%d %H:%M")
    cost = (record.cost or {}).get("text", "").split(" (")[0]
    prompt = record.request.get("prompt") or f"recovered {record.provider_job_id}"
    return f"{icon} {record.provider} · {record.state.value} · {cost} · {when} UTC · {prompt[:60]}"


def _served_copy(path: str | None) -> str | None:
    """A byte-identical copy in the temp dir, which Gradio may serve (the inputs folder is not)."""
    if not path:
        return None
    source = Path(path)
    target = Path(tempfile.mkdtemp(prefix="i2v-replay-")) / source.name
    shutil.copyfile(source, target)
    return str(target)


class HistoryHandlers:
    """Mixed into ui.handlers.Studio; uses its engine and its `_follow` stream."""

    # ---- owner and reattach -------------------------------------------------------------

    @staticmethod
    def init_owner(token: str | None) -> tuple[str, str]:
        """Keep the browser's owner token, or make one. It is a handle, not a secret."""
        if not token or not _TOKEN.match(token):
            token = secrets.token_urlsafe(18)
        return token, token

    async def reattach(self, token: str, request: gr.Request = None) -> AsyncIterator[tuple]:
        """On page load: show this owner's running job live, if there is one."""
        running = self.engine.running_for_owner(owner_of(request, token))
        if not running:
            yield gr.skip(), gr.skip(), gr.skip(), gr.skip()
            return
        async for outputs in self._follow(running[-1], request):
            yield outputs

    # ---- history ------------------------------------------------------------------------

    def history_gallery(self, token: str, request: gr.Request = None) -> tuple[list, list[str], str]:
        """Gallery items for this owner's jobs (newest first), their ids, and a note."""
        records = self.engine.history(owner_of(request, token))
        thumbs = self.engine.settings.videos_dir / "thumbs"
        items = [(str(self._thumbnail(thumbs, record)), _caption(record)) for record in records]
        waiting = sum(1 for r in records if r.state is JobState.NEEDS_KEY)
        note = (
            f"🔑 {waiting} job(s) need your key to continue after a restart: paste it above and press "
            "“Resume with my key”."
            if waiting
            else ""
        )
        return items, [r.id for r in records], note

    @staticmethod
    def _thumbnail(thumbs, record: JobRecord):
        if record.thumbnail and (thumbs / record.thumbnail).is_file():
            return thumbs / record.thumbnail
        placeholder = thumbs / "_placeholder.png"
        if not placeholder.is_file():
            from PIL import Image

            thumbs.mkdir(parents=True, exist_ok=True)
            Image.new("RGB", (160, 90), (60, 64, 72)).save(placeholder)
        return placeholder

    def history_api(self, owner_token: str = "", request: gr.Request = None) -> list[dict]:
        """This owner's jobs (params only). The owner is the logged-in user, else `owner_token`."""
        return [record.params() for record in self.engine.history(owner_of(request, owner_token))]

    def select_job(self, ids: list[str], token: str, evt: gr.SelectData, request: gr.Request = None) -> tuple:
        """Show the chosen job's params and offer its files."""
        job_id = ids[evt.index] if evt is not None and 0 <= evt.index < len(ids) else None
        record = self._owned(job_id, token, request)
        if record is None:
            return None, None, None, None
        video = record.video["path"] if record.video else None
        params_path = self.engine.settings.videos_dir / f"{record.id}.params.json"
        if record.video and not params_path.exists():
            params_path.write_text(views.params_json(record))
        return job_id, record.params(), video, str(params_path) if params_path.exists() else None

    def _owned(self, job_id: str | None, token: str, request: gr.Request | None) -> JobRecord | None:
        if not job_id:
            return None
        try:
            record = self.engine.snapshot(job_id)
        except KeyError:
            return None
        return record if record.owner == owner_of(request, token) else None

    def delete_job(self, job_id: str | None, token: str, request: gr.Request = None) -> str:
        if not job_id:
            return "Choose a job first."
        if self.engine.delete(job_id, owner_of(request, token)):
            return "Deleted."
        return "Only your finished jobs can be deleted."

    # ---- load settings ------------------------------------------------------------------

    def load_from_job(self, job_id: str | None, token: str, request: gr.Request = None) -> tuple:
        record = self._owned(job_id, token, request)
        if record is None:
            raise gr.Error("Choose one of your jobs first.")
        return self._fill_form(record.params(), exact=False)

    def load_from_file(self, file: str | None, exact: bool) -> tuple:
        """Refill every input from an MP4 made by this app or its params.json."""
        if not file:
            return tuple(gr.skip() for _ in range(12))
        try:
            params = read_params(file)
        except StudioError as exc:
            raise gr.Error(str(exc)) from None
        return self._fill_form(params, exact=exact)

    def _fill_form(self, params: dict[str, Any], *, exact: bool) -> tuple:
        try:
            replay: ReplaySettings = settings_from_params(params, self.engine.settings.inputs_dir, exact=exact)
        except StudioError as exc:
            raise gr.Error(str(exc)) from None
        caps = CAPABILITIES.get(replay.provider, CAPABILITIES["preview"])
        note = "\n".join(f"- {views.escape(n)}" for n in replay.notes) or "All inputs restored."
        return (
            _served_copy(replay.image_path) if replay.image_path else gr.skip(),
            replay.prompt,
            replay.negative_prompt,
            _served_copy(replay.audio_path),
            replay.audio_start,
            replay.provider,
            gr.update(choices=[r.value for r in caps.resolutions], value=replay.resolution),
            gr.update(choices=list(caps.durations_s), value=replay.duration),
            replay.seed,
            gr.update(value=replay.enable_prompt_expansion, interactive=caps.prompt_expansion_default is not None),
            gr.update(value=replay.enable_safety_checker, interactive=caps.safety_checker_default is not None),
            f"**Loaded settings** (seed {replay.seed}).\n\n{note}",
        )

    # ---- recover by id and resume with a key --------------------------------------------

    async def recover(
        self, provider: str, job_id: str, api_key: str = "", owner_token: str = "", request: gr.Request = None
    ) -> AsyncIterator[tuple]:
        """Adopt a job submitted elsewhere: poll it, download it, record it in your history."""
        caps = CAPABILITIES.get(provider)
        job_id = (job_id or "").strip()
        if caps is None or caps.is_draft:
            raise gr.Error("Recover works for hosted providers (runpod, coretoday).")
        if not re.fullmatch(r"[A-Za-z0-9._:-]{1,128}", job_id):
            raise gr.Error("job id: paste the provider's job id (letters, digits, - _ . :).")
        given = (api_key or "").strip() or None
        try:
            choice = self.policy.choose_key(caps, given)
        except StudioError as exc:
            raise gr.Error(redact(str(exc), (given,))) from None
        ours = await self.engine.adopt(
            provider, job_id, api_key=choice.key, owner=owner_of(request, owner_token), key_source=choice.source.value
        )
        del choice, given, api_key
        async for outputs in self._follow(ours, request):
            yield outputs

    async def resume_with_key(self, api_key: str, token: str, request: gr.Request = None) -> str:
        """Give every job of this owner that waits for a key the key now in the form."""
        key = (api_key or "").strip()
        if not key:
            return "Paste your key first."
        owner = owner_of(request, token)
        waiting = [r for r in self.engine.history(owner) if r.state is JobState.NEEDS_KEY]
        resumed = 0
        for record in waiting:
            caps = CAPABILITIES[record.provider]
            if caps.env_api_key and await self.engine.supply_key(record.id, owner, key):
                resumed += 1
        del key, api_key
        return f"Resumed {resumed} job(s)." if resumed else "No job of yours is waiting for a key."
