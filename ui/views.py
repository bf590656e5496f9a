"""Pure functions from engine records and capabilities to what the UI shows. No Gradio here."""

from __future__ import annotations

import html
import os
from datetime import datetime

from jobs.models import JobState, Resolution
from jobs.record import JobRecord
from providers.capabilities import CAPABILITIES, Capabilities, estimate_price

__all__ = ["PHASE", "escape", "price_text", "provider_notes", "status_markdown"]

PHASE = {
    JobState.CREATED: "Checking inputs and submitting",
    JobState.SUBMITTED: "Submitted",
    JobState.QUEUED: "Queued",
    JobState.RUNNING: "Running",
    JobState.SUCCEEDED: "Finished, downloading the video",
    JobState.DELIVERED: "Done",
    JobState.FAILED: "Failed",
    JobState.CANCELLED: "Cancelled",
    JobState.TIMED_OUT: "Timed out",
    JobState.EXPIRED: "Expired at the provider",
    JobState.UNKNOWN: "Unknown",
}


def _parse(ts: str) -> datetime:
    return datetime.fromisoformat(ts.replace("Z", "+00:00"))


def _secs(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds < 60 else f"{int(seconds // 60)} min {seconds % 60:.0f} s"


def escape(text: str) -> str:
    """Escape user or provider text so it cannot add Markdown links, images or HTML."""
    return html.escape(text).replace("[", "&#91;").replace("]", "&#93;").replace("*", "&#42;").replace("_", "&#95;")


def timeline_text(record: JobRecord) -> str:
    """ "created 20:01:02 → submitted +0.4 s → queued +0.5 s …" with real timestamps."""
    if not record.timeline:
        return ""
    start = _parse(record.timeline[0]["at"])
    parts = [f"{record.timeline[0]['state']} {start:%H:%M:%S} UTC"]
    for entry in record.timeline[1:]:
        parts.append(f"{entry['state']} +{_secs((_parse(entry['at']) - start).total_seconds())}")
    return " → ".join(parts)


def status_markdown(record: JobRecord, *, now: datetime | None = None) -> str:
    """The status area: phase, elapsed time, ids, real progress where the provider has it."""
    phase = PHASE[record.state]
    lines = [f"**{phase}** · {record.provider}"]
    if record.timeline:
        start = _parse(record.timeline[0]["at"])
        end = _parse(record.timeline[-1]["at"]) if record.state.is_final else (now or datetime.now(start.tzinfo))
        lines[0] += f" · {_secs(max((end - start).total_seconds(), 0))}"
    if record.provider_job_id:
        lines.append(f"Job id: `{record.provider_job_id}`")
    if record.queue_position:
        lines.append(f"Position in the local render queue: {record.queue_position}")
    if record.progress and record.state is JobState.RUNNING:
        done, total = record.progress
        lines.append(f"Rendered {done} of {total} frames")
    timings = record.provider_timings
    if timings:
        bits = [
            f"{label} {timings[key] / 1000:.1f} s"
            for key, label in (("queue_ms", "queued"), ("run_ms", "ran"))
            if key in timings
        ]
        lines.append("Provider timings: " + ", ".join(bits))
    if record.cost:
        label = "Cost" if record.cost.get("source") == "provider" else "Estimated cost"
        lines.append(f"{label}: {record.cost.get('text')}")
    notes = [
        *(record.request.get("image") or {}).get("notes", []),
        *(record.request.get("audio") or {}).get("notes", []),
    ]
    if notes:
        lines.append("Input notes: " + "; ".join(escape(note) for note in notes))
    expiry = _expiry_text(record)
    if expiry:
        lines.append(expiry)
    if record.message and record.state is not JobState.DELIVERED:
        lines.append(escape(record.message))
    lines.append(f"<small>{timeline_text(record)}</small>")
    return "\n\n".join(lines)


def _expiry_text(record: JobRecord) -> str:
    """A countdown for the provider's copy of the video, where its lifetime is documented."""
    from jobs.delivery import seconds_left

    left = seconds_left(record.remote_expires_at)
    if left is None or record.state not in (JobState.SUCCEEDED, JobState.DELIVERED):
        return ""
    if left <= 0:
        return "The provider's copy of the video has expired."
    days, rest = divmod(int(left), 86400)
    hours, rest = divmod(rest, 3600)
    span = f"{days} d {hours} h" if days else f"{hours} h {rest // 60} min"
    kept = "your copy is saved here" if record.state is JobState.DELIVERED else "download it before then"
    return f"The provider's copy expires in {span}; {kept}."


def price_text(provider: str, resolution: str, duration: int | float | None) -> str:
    """The estimate shown next to Generate, with the price table's date and source."""
    caps = CAPABILITIES.get(provider)
    if caps is None:
        return ""
    if caps.is_draft:
        return "**Free** · runs on this server, no key needed"
    try:
        tier = Resolution(resolution)
        seconds = int(duration or caps.default_duration_s)
    except ValueError:
        return ""
    _, text = estimate_price(provider, tier, seconds)
    price = caps.price
    return f"**Estimated: {text}** · {price.note} · price table as of {price.as_of} ({price.source})"


def provider_notes(caps: Capabilities) -> str:
    """What the chosen provider accepts and how its key is found."""
    if caps.is_draft:
        return (
            "**Preview is a camera-motion draft, not AI generation.** It pans, zooms or orbits over your "
            "image (chosen by words like “zoom in”, “pan left”, “orbit” in the prompt, otherwise by the seed) "
            "and adds your audio. Free, offline, no key."
        )
    durations = caps.durations_s
    span = f"{durations[0]}–{durations[-1]} s" if len(durations) > 2 else " or ".join(f"{d} s" for d in durations)
    key = caps.env_api_key or ""
    key_note = (
        f"A server key ({key}) is configured; a key you paste here is used instead, for this session only."
        if os.environ.get(key)
        else f"Paste your {caps.name} key below; it is kept for this session only and never stored."
    )
    expansion = "on" if caps.prompt_expansion_default else "off"
    return (
        f"**{caps.label}** · durations {span} · {', '.join(r.value for r in caps.resolutions)} · "
        f"prompt expansion {expansion} by default. {key_note}"
    )


def clean_for_count(text: str | None) -> str:
    """The text as it will be sent (control characters stripped), for the live counter."""
    from jobs.inputs import clean_text

    return clean_text(text)


def image_summary(prepared, provider: str, resolution: str) -> str:
    """What will be sent and what comes back: size, format, orientation, output pixels."""
    from jobs.models import Orientation
    from media.images import output_geometry
    from providers.runpod import runpod_size

    tier = Resolution(resolution)
    width, height = output_geometry(prepared.width, prepared.height, tier.short_side)
    lines = [
        f"**Prepared image:** {prepared.width}×{prepared.height} px {prepared.mime.split('/')[1].upper()}, "
        f"{prepared.size_bytes / 1024:.0f} KB, {prepared.orientation} · sha256 `{prepared.sha256[:12]}…`",
        f"**Output:** {tier} {prepared.orientation} → about {width}×{height} px",
    ]
    if provider == "runpod":
        lines[-1] += f" · Runpod `size` = `{runpod_size(Orientation(prepared.orientation), tier)}`"
    lines.extend(f"- {escape(note)}" for note in prepared.notes)
    return "\n\n".join(lines[:2]) + ("\n\n" + "\n".join(lines[2:]) if lines[2:] else "")


def audio_summary(source_s: float, start_s: float, video_s: int, caps: Capabilities) -> str:
    """How much of the audio lands in the video, and what happens to the rest."""
    used_end = min(source_s, start_s + max(video_s, caps.audio_min_s))
    lines = [f"**Audio:** {source_s:.1f} s · seconds {start_s:g}–{used_end:.1f} are used for the {video_s} s video"]
    if source_s - start_s < video_s:
        lines.append(f"The audio runs out {video_s - (source_s - start_s):.1f} s early: the rest will be silent.")
    if source_s > start_s + video_s:
        lines.append("Longer than the video: the part after the video's end is cut.")
    return "\n\n".join(lines)


def access_banner(policy) -> str:
    """Tell visitors whose key a run uses and what it costs."""
    settings = policy.settings
    lent = [caps for caps in CAPABILITIES.values() if caps.env_api_key and policy.lends_server_key(caps)]
    if not settings.public:
        if not lent:
            return ""
        names = ", ".join(caps.name for caps in lent)
        return f"🔑 Runs on {names} use this server's key unless you paste your own."
    lines = ["🌐 **Public app.** The preview is free."]
    if lent:
        for caps in lent:
            low, _ = estimate_price(caps.name, caps.resolutions[0], caps.durations_s[0])
            high, _ = estimate_price(caps.name, caps.resolutions[-1], caps.durations_s[-1])
            unit = "credits" if caps.price.currency == "credits" else "USD"
            lines.append(
                f"Runs on **{caps.name}** without your own key are paid by this app's owner (shared key): at most "
                f"{settings.quota_jobs_per_day} per visitor per day, {settings.quota_running_per_visitor} at a time. "
                f"A run costs {low:g}–{high:g} {unit} (price table as of {caps.price.as_of})."
            )
    else:
        lines.append("Hosted providers run on **your own key**: it is used for your session only and never stored.")
    return " ".join(lines)


def params_json(record: JobRecord) -> str:
    """The downloadable params.json."""
    import json

    return json.dumps(record.params(), indent=2, ensure_ascii=False)
