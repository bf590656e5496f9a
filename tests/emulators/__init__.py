"""Local emulators of the hosted Wan 2.5 providers: real HTTP servers on 127.0.0.1 for tests.

Contract: shared/reference/providers.md §1 (Runpod) and §2 (core.today).

    from tests.emulators import Fault, RunpodEmulator

    with RunpodEmulator(api_key="k", queue_s=0.2, run_s=0.3) as runpod:
        runpod.faults.add("status", Fault.http(429, headers={"Retry-After": "1"}))
        runpod.next_outcomes.append("fail")
        ...  # point the app at f"{runpod.base_url}/v2"
        assert runpod.submits == 1 and runpod.cancels == []
"""

from .base import Emulator, Fault, Job, Phase, RequestRecord, UploadedFile, sample_mp4
from .coretoday import CoretodayEmulator
from .runpod import RunpodEmulator

__all__ = [
    "CoretodayEmulator",
    "Emulator",
    "Fault",
    "Job",
    "Phase",
    "RequestRecord",
    "RunpodEmulator",
    "UploadedFile",
    "sample_mp4",
]
