"""Many simultaneous generations through the real app, driven the way browsers drive it.

The app runs as its own process (`python app.py`), pointed at a Runpod emulator. Each simulated
visitor has its own session: it joins the queue (`/gradio_api/queue/join`) and reads its event
stream (`/gradio_api/queue/data`) until the job completes — the protocol the browser uses. One
asyncio client plays all visitors, so the driver does not steal the app's CPU with 100 threads.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import httpx

from tests.app_process import app_process
from tests.emulators.runpod import RunpodEmulator
from tests.helpers import make_photo

KEY = "bench-key"


@dataclass(frozen=True)
class ConcurrencyResult:
    jobs: int
    provider_s: float
    wall_s: float
    submits: int
    delivered: int
    max_in_flight: int


def _max_overlap(intervals: list[tuple[float, float]]) -> int:
    events = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    best = current = 0
    for _, delta in events:
        current += delta
        best = max(best, current)
    return best


async def _visitor(http: httpx.AsyncClient, url: str, fn_index: int, image: dict, index: int) -> dict:
    """One browser session: join the queue, then follow its event stream to the end."""
    session = uuid.uuid4().hex[:11]
    data = [image, f"job {index}", "", None, "runpod", "480p", 5, index, False, True, KEY, "", 0, "", ""]
    join = {"data": data, "fn_index": fn_index, "session_hash": session, "event_data": None, "trigger_id": None}
    (await http.post(f"{url}/gradio_api/queue/join", json=join)).raise_for_status()
    async with http.stream("GET", f"{url}/gradio_api/queue/data", params={"session_hash": session}) as stream:
        async for line in stream.aiter_lines():
            if not line.startswith("data:"):
                continue
            message = json.loads(line[5:])
            if message.get("msg") == "process_completed":
                if not message.get("success"):
                    raise RuntimeError(f"job {index} failed: {message.get('output')}")
                return message["output"]["data"][2]  # the params dict
    raise RuntimeError(f"job {index}: stream ended early")


async def drive_sessions(url: str, image_path: Path, jobs: int) -> tuple[float, list[dict]]:
    limits = httpx.Limits(max_connections=jobs * 2 + 10)
    async with httpx.AsyncClient(timeout=httpx.Timeout(300), limits=limits) as http:
        config = (await http.get(f"{url}/config")).json()
        fn_index = next(i for i, d in enumerate(config["dependencies"]) if d.get("api_name") == "generate")
        files = {"files": ("photo.png", image_path.read_bytes(), "image/png")}
        uploaded = (await http.post(f"{url}/gradio_api/upload", files=files)).json()[0]
        image = {"path": uploaded, "meta": {"_type": "gradio.FileData"}, "orig_name": "photo.png"}
        started = time.monotonic()
        results = await asyncio.gather(*(_visitor(http, url, fn_index, image, i) for i in range(jobs)))
        return time.monotonic() - started, results


def run_concurrent(jobs: int, queue_s: float, run_s: float) -> ConcurrencyResult:
    """Start the app, run `jobs` generations at once, and report what happened."""
    work = Path(tempfile.mkdtemp(prefix="i2v-bench-"))
    image = make_photo(work / "photo.png", 640, 400)
    with RunpodEmulator(api_key=KEY, queue_s=queue_s, run_s=run_s) as runpod:
        env = {"RUNPOD_ENDPOINT_BASE_URL": f"{runpod.base_url}/v2"}
        with app_process(env, work=work) as app:
            wall, results = asyncio.run(drive_sessions(app.url, image, jobs))
        spans = [(job.submitted, job.submitted + queue_s + run_s) for job in runpod.jobs]
        delivered = sum(1 for params in results if params["state"] == "delivered")
        return ConcurrencyResult(jobs, queue_s + run_s, wall, runpod.submits, delivered, _max_overlap(spans))


def main() -> None:
    result = run_concurrent(100, queue_s=3.0, run_s=6.0)
    target = 25.0
    verdict = "pass" if result.wall_s < target and result.delivered == result.jobs else "FAIL"
    print("| case | jobs | provider time/job | wall time | target | in flight at once | submits | result |")
    print("|---|---|---|---|---|---|---|---|")
    print(
        f"| simultaneous generations | {result.jobs} | {result.provider_s:.1f} s | {result.wall_s:.1f} s | "
        f"< {target:.0f} s | {result.max_in_flight} | {result.submits} | {verdict} |"
    )


if __name__ == "__main__":
    main()
