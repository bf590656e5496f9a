"""100 generations from different sessions run together: none waits for another.

The emulator holds every job in its queue until all 100 submits have arrived, then releases them.
An app that ran generations one at a time (Gradio's default concurrency limit is 1) or capped them
(max_threads defaults to 40) could never get all 100 in, so this checks the property itself and not
the machine's speed. The wall-time target is in bench/concurrency.py.
"""

from __future__ import annotations

import asyncio
import threading
import time

from bench.concurrency import KEY, drive_sessions
from tests.app_process import app_process
from tests.emulators.runpod import RunpodEmulator
from tests.helpers import make_photo

JOBS = 100


def _release_when_all_in(runpod: RunpodEmulator, seen: dict, timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while runpod.accepted_submits < JOBS and time.monotonic() < deadline:
        time.sleep(0.05)
    seen["all_in_at_once"] = runpod.accepted_submits == JOBS
    for job in runpod.jobs:  # release: from now on every job runs briefly and completes
        job.queue_s = 0.0


def test_hundred_generations_are_in_flight_at_once(tmp_path):
    image = make_photo(tmp_path / "photo.png", 640, 400)
    seen: dict = {}
    with RunpodEmulator(api_key=KEY, queue_s=3600.0, run_s=0.5) as runpod:
        env = {"RUNPOD_ENDPOINT_BASE_URL": f"{runpod.base_url}/v2", "I2V_POLL_MAX_S": "1"}
        with app_process(env, work=tmp_path) as app:
            releaser = threading.Thread(target=_release_when_all_in, args=(runpod, seen), daemon=True)
            releaser.start()
            _, results = asyncio.run(drive_sessions(app.url, image, JOBS))
            releaser.join()
        assert seen["all_in_at_once"], f"only {runpod.accepted_submits} of {JOBS} jobs were in flight together"
        assert runpod.submits == JOBS  # exactly one submit per generation
    assert sum(1 for params in results if params["state"] == "delivered") == JOBS
