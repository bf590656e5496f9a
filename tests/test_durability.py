"""No paid job is ever lost: kill -9 and restart, reattach by owner, recover by id (issue 4)."""

from __future__ import annotations

import json
import signal
import sqlite3
import time
from pathlib import Path

import httpx
import pytest
from gradio_client import Client, handle_file

from tests.app_process import app_process
from tests.emulators.runpod import RunpodEmulator
from tests.helpers import make_photo

KEY = "rpa_DURABILITYKEY0123456789abcdef"


def _ledger(work: Path) -> list[dict]:
    with sqlite3.connect(work / "data" / "jobs.sqlite3") as db:
        return [json.loads(row[0]) for row in db.execute("SELECT record FROM jobs")]


def _wait(condition, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _submit_jobs(url: str, image: Path, count: int) -> None:
    """Start `count` generations and drop the connections at once (like closed tabs)."""
    client = Client(url, verbose=False)
    for i in range(count):
        client.submit(
            image=handle_file(str(image)), prompt=f"job {i}", provider="runpod", duration=5, api_name="/generate"
        )
    return client


@pytest.mark.parametrize("phase", ["queued", "running"])
def test_kill_9_and_restart_delivers_every_job_with_one_submit_each(tmp_path, phase):
    image = make_photo(tmp_path / "p.png", 640, 400)
    queue_s, run_s = (6.0, 2.0) if phase == "queued" else (0.5, 8.0)
    with RunpodEmulator(api_key=KEY, queue_s=queue_s, run_s=run_s) as runpod:
        env = {"RUNPOD_API_KEY": KEY, "RUNPOD_ENDPOINT_BASE_URL": f"{runpod.base_url}/v2", "I2V_POLL_MAX_S": "0.5"}
        with app_process(env, work=tmp_path) as app:
            client = _submit_jobs(app.url, image, 10)
            _wait(lambda: runpod.submits == 10, "ten submits")
            _wait(lambda: sum(1 for r in _ledger(tmp_path) if r["provider_job_id"]) == 10, "ten ids on disk")
            if phase == "running":
                time.sleep(1.0)
            app.process.send_signal(signal.SIGKILL)
            app.process.wait(10)
            client.close()
        with app_process(env, work=tmp_path):
            _wait(
                lambda: sum(1 for r in _ledger(tmp_path) if r["state"] == "delivered") == 10,
                "ten deliveries after restart",
                timeout=60,
            )
        assert runpod.submits == 10
        assert sorted(r["provider_job_id"] for r in _ledger(tmp_path)) == sorted(j.id for j in runpod.jobs)


def test_kill_9_during_download_delivers_after_restart(tmp_path):
    image = make_photo(tmp_path / "p.png", 640, 400)
    with RunpodEmulator(api_key=KEY, queue_s=0.2, run_s=0.2) as runpod:
        runpod.faults.add("download", runpod_delay(30))
        env = {"RUNPOD_API_KEY": KEY, "RUNPOD_ENDPOINT_BASE_URL": f"{runpod.base_url}/v2", "I2V_POLL_MAX_S": "0.5"}
        with app_process(env, work=tmp_path) as app:
            client = _submit_jobs(app.url, image, 1)
            _wait(lambda: [r["state"] for r in _ledger(tmp_path)] == ["succeeded"], "the download to start")
            time.sleep(0.5)
            app.process.send_signal(signal.SIGKILL)
            app.process.wait(10)
            client.close()
        runpod.faults.clear()
        with app_process(env, work=tmp_path):
            _wait(lambda: _ledger(tmp_path)[0]["state"] == "delivered", "delivery after restart", timeout=60)
        assert runpod.submits == 1


def runpod_delay(seconds: float):
    from tests.emulators.base import Fault

    return Fault.delay(seconds)


def test_session_key_job_waits_for_its_owners_key_after_restart(tmp_path):
    image = make_photo(tmp_path / "p.png", 640, 400)
    with RunpodEmulator(api_key=KEY, queue_s=5.0, run_s=0.5) as runpod:
        env = {"RUNPOD_ENDPOINT_BASE_URL": f"{runpod.base_url}/v2", "I2V_POLL_MAX_S": "0.5"}
        with app_process(env, work=tmp_path) as app:
            client = Client(app.url, verbose=False)
            client.submit(
                image=handle_file(str(image)), prompt="x", provider="runpod", api_key=KEY, api_name="/generate"
            )
            _wait(lambda: any(r["provider_job_id"] for r in _ledger(tmp_path)), "the id on disk")
            app.process.send_signal(signal.SIGKILL)
            app.process.wait(10)
            client.close()
        with app_process(env, work=tmp_path) as app:
            _wait(lambda: _ledger(tmp_path)[0]["state"] == "needs_key", "needs your key")
            assert KEY not in (tmp_path / "data" / "jobs.sqlite3").read_bytes().decode("latin-1")
            assert httpx.get(f"{app.url}/gradio_api/info").status_code == 200
        assert runpod.submits == 1
