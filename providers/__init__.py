"""Provider registry: one module per provider, one name used everywhere."""

from __future__ import annotations

from providers.base import Provider, Submission
from providers.capabilities import CAPABILITIES, Capabilities, estimate_price
from providers.coretoday import CoretodayProvider
from providers.preview import PreviewProvider
from providers.runpod import RunpodProvider

__all__ = [
    "CAPABILITIES",
    "PROVIDERS",
    "Capabilities",
    "CoretodayProvider",
    "PreviewProvider",
    "Provider",
    "RunpodProvider",
    "Submission",
    "estimate_price",
]

PROVIDERS: dict[str, type[Provider]] = {cls.name: cls for cls in (PreviewProvider, RunpodProvider, CoretodayProvider)}
