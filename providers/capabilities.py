"""One table of what each provider accepts and costs. The UI and the checks both read it.

Sources: shared/reference/providers.md §0, §1.4–1.5 (Runpod), §2.2 (core.today), §6 (limits).
"""

from __future__ import annotations

from dataclasses import dataclass

from jobs.models import Resolution

__all__ = ["CAPABILITIES", "Capabilities", "Price", "estimate_price"]

SEED_MAX = 2_147_483_647
ALL_TIERS = (Resolution.P480, Resolution.P720, Resolution.P1080)


@dataclass(frozen=True)
class Price:
    """A documented price: per second of video by tier, or flat per request."""

    currency: str
    per_second: dict[Resolution, float] | None = None
    per_request: float | None = None
    as_of: str = ""
    source: str = ""
    note: str = ""


@dataclass(frozen=True)
class Capabilities:
    """What one provider accepts. `None` defaults mean the provider has no such switch."""

    name: str
    label: str
    durations_s: tuple[int, ...]
    resolutions: tuple[Resolution, ...]
    default_duration_s: int
    default_resolution: Resolution
    prompt_expansion_default: bool | None
    safety_checker_default: bool | None
    accepts_audio: bool
    audio_formats: tuple[str, ...]
    price: Price
    env_api_key: str | None = None
    audio_min_s: float = 3.0
    audio_max_s: float = 30.0
    audio_max_bytes: int = 15 * 1024 * 1024
    max_prompt_chars: int = 800
    max_negative_chars: int = 500
    max_payload_bytes: int | None = None
    result_ttl_s: float | None = None  # how long the provider keeps the video URL, where documented
    is_draft: bool = False

    @property
    def needs_key(self) -> bool:
        return self.env_api_key is not None


CAPABILITIES: dict[str, Capabilities] = {
    "preview": Capabilities(
        name="preview",
        label="Preview (offline camera-motion draft, free)",
        durations_s=tuple(range(1, 11)),
        resolutions=ALL_TIERS,
        default_duration_s=5,
        default_resolution=Resolution.P480,
        prompt_expansion_default=None,
        safety_checker_default=None,
        accepts_audio=True,
        audio_formats=("wav",),
        audio_min_s=0.0,
        price=Price(currency="USD", per_request=0.0, note="runs on this machine"),
        is_draft=True,
    ),
    "runpod": Capabilities(
        name="runpod",
        label="Runpod · wan-2-5",
        # The Hub README copy documents 1–10 s; the price table lists 5 and 10 (providers.md §1.4).
        durations_s=tuple(range(1, 11)),
        resolutions=ALL_TIERS,
        default_duration_s=5,
        default_resolution=Resolution.P720,
        prompt_expansion_default=False,
        safety_checker_default=True,
        accepts_audio=True,
        audio_formats=("wav", "mp3", "m4a"),
        audio_max_bytes=15 * 1024 * 1024,
        max_payload_bytes=10 * 1024 * 1024,  # /run body limit; media travel inside it
        result_ttl_s=7 * 24 * 3600,  # output.video_url "expires after 7 days" (providers.md §1.3)
        env_api_key="RUNPOD_API_KEY",
        price=Price(
            currency="USD",
            per_second={Resolution.P480: 0.05, Resolution.P720: 0.10, Resolution.P1080: 0.15},
            as_of="2026-10",
            source="docs.runpod.io/public-endpoints/models/wan-2-5",
            note="Runpod lists $0.25/$0.50/$0.75 per 5 s; failed runs are not charged",
        ),
    ),
    "coretoday": Capabilities(
        name="coretoday",
        label="core.today · wan-video/wan-2.5-i2v",
        durations_s=(5, 10),  # the upstream Replicate model takes only 5 or 10 (providers.md §2.2)
        resolutions=ALL_TIERS,
        default_duration_s=5,
        default_resolution=Resolution.P720,
        prompt_expansion_default=True,
        safety_checker_default=None,
        accepts_audio=True,
        audio_formats=("wav", "mp3"),
        env_api_key="CORETODAY_API_KEY",
        price=Price(
            currency="credits",
            per_request=1500,
            as_of="2026-10",
            source="api.core.today/v1/models/wan-video/wan-2.5-i2v/llms.txt",
            note="1500 credits per request (≈ $1.50 at 1 credit ≈ $0.001; pricing is input-based)",
        ),
    ),
}


def estimate_price(provider: str, resolution: Resolution, duration_s: int) -> tuple[float, str]:
    """(amount, human text) for one run, from the documented table."""
    price = CAPABILITIES[provider].price
    if price.per_second is not None:
        amount = round(price.per_second[resolution] * duration_s, 4)
        text = f"${amount:.2f} ({duration_s} s × ${price.per_second[resolution]:.2f}/s at {resolution})"
    elif price.currency == "credits":
        amount = float(price.per_request or 0)
        text = f"{amount:.0f} credits per run"
    else:
        amount = float(price.per_request or 0)
        text = "free" if amount == 0 else f"${amount:.2f} per run"
    return amount, text
