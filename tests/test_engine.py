"""The job engine against the Runpod and core.today emulators: no Gradio involved."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from dataclasses import replace
from pathlib import Path

import pytest

from jobs.engine import JobEngine
from jobs.models import JobState, Resolution
from jobs.store import JobStore
from media.images import prepare_image
from settings import Settings
from tests.emulators.base import Fault
from tests.emulators.coretoday import CoretodayEmulator
from tests.emulators.runpod import RunpodEmulator
from tests.helpers import make_photo, make_request

KEY = "rp-sentinel-KEY-0123456789abcdef"


@pytest.fixture
def runpod():
    with RunpodEmulator(api_key=KEY, queue_s=0.2, run_s=0.3) as emulator:
        yield emulator


@pytest.fixture
def coretoday():
    with CoretodayEmulator(api_key=KEY, queue_s=0.2, run_s=0.3) as emulator:
        yield emulator


def _settings(tmp_path: Path, runpod=None, coretoday=None, **overrides) -> Settings:
    values = dict(
        data_dir=tmp_path / "data",
        runpod_base_url=f"{runpod.base_url}/v2" if runpod else "http://127.0.0.1:9/v2",
        coretoday_base_url=f"{coretoday.base_url}/v1" if coretoday else "http://127.0.0.1:9/v1",
        poll_initial_s=0.05,
        poll_max_s=0.2,
        job_timeout_s=30,
    )
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def photo(tmp_path):
    return prepare_image(make_photo(tmp_path / "photo.png"), out_dir=tmp_path / "inputs")


async def _run(settings: Settings, request, key=KEY, *, cancel_after: float | None = None):
    engine = JobEngine(settings, JobStore(settings.data_dir / "jobs.sqlite3"))
    try:
        job_id = await engine.start(request, api_key=key, owner="tester")
        if cancel_after is not None:
            await asyncio.sleep(cancel_after)
            await engine.cancel(job_id)
        return await engine.wait(job_id), engine
    finally:
        await engine.aclose()


async def test_runpod_job_is_delivered_with_one_submit(tmp_path, runpod, photo):
    settings = _settings(tmp_path, runpod=runpod)
    record, _ = await _run(settings, make_request(tmp_path, image=photo))
    assert record.state is JobState.DELIVERED, record.message
    assert runpod.submits == 1
    submit = runpod.requests_for("submit")[0]
    assert submit.headers.get("authorization") == f"Bearer {KEY}" or submit.headers.get("Authorization") == (
        f"Bearer {KEY}"
    )
    assert submit.body["input"]["size"] == "1280*720"
    assert record.provider_job_id and record.video["sha256"]
    assert record.video["source_sha256"] == hashlib.sha256(runpod.video_bytes).hexdigest()
    assert record.video["params_embedded"] and Path(record.video["path"]).is_file()
    assert record.cost["source"] == "provider" and record.cost["amount"] == pytest.approx(0.5)
    assert {"queue_ms", "run_ms"} <= set(record.provider_timings)
    states = [entry["state"] for entry in record.timeline]
    assert states[:3] == ["created", "submitted", "queued"] and states[-1] == "delivered"


@pytest.mark.parametrize("output_key", ["video_url", "result"])
async def test_runpod_both_output_keys(tmp_path, photo, output_key):
    with RunpodEmulator(api_key=KEY, queue_s=0.05, run_s=0.05, output_key=output_key) as runpod:
        record, _ = await _run(_settings(tmp_path, runpod=runpod), make_request(tmp_path, image=photo))
    assert record.state is JobState.DELIVERED


@pytest.mark.parametrize("shape", ["job_id", "id"])
async def test_coretoday_both_shapes_via_upload(tmp_path, photo, shape):
    with CoretodayEmulator(api_key=KEY, queue_s=0.05, run_s=0.05, shape=shape) as coretoday:
        request = make_request(tmp_path, image=photo, provider="coretoday", enable_prompt_expansion=True)
        record, _ = await _run(_settings(tmp_path, coretoday=coretoday), request)
        assert record.state is JobState.DELIVERED, record.message
        assert coretoday.submits == 1
        submit = coretoday.requests_for("upload")[0] if coretoday.requests_for("upload") else None
        assert submit is not None and submit.headers.get("x-api-key", submit.headers.get("X-API-Key")) == KEY
        assert record.media_transport == {"image": "upload"}
        assert photo.sha256 in record.request_body["input"]["image"]


async def test_wrong_key_fails_clearly_without_retrying_submit(tmp_path, runpod, photo):
    record, _ = await _run(_settings(tmp_path, runpod=runpod), make_request(tmp_path, image=photo), key="wrong")
    assert record.state is JobState.FAILED
    assert "401" in record.message and "key" in record.message
    assert runpod.submits == 1


async def test_status_429_and_5xx_are_retried_honouring_retry_after(tmp_path, runpod, photo):
    runpod.faults.add("status", Fault.http(429, {"error": "slow down"}, {"Retry-After": "1"}))
    runpod.faults.add("status", Fault.http(500, {"error": "boom"}))
    runpod.faults.add("status", Fault.html(502))
    runpod.faults.add("status", Fault.reset())
    runpod.faults.add("status", Fault.malformed())
    record, _ = await _run(_settings(tmp_path, runpod=runpod), make_request(tmp_path, image=photo))
    assert record.state is JobState.DELIVERED, record.message
    assert runpod.submits == 1
    polls = runpod.requests_for("status")
    first_429 = next(i for i, r in enumerate(polls) if r.status == 429)
    assert polls[first_429 + 1].timestamp - polls[first_429].timestamp >= 0.95  # Retry-After: 1


async def test_submit_is_never_retried_after_an_ambiguous_failure(tmp_path, runpod, photo):
    runpod.faults.add("submit", Fault.http(503, {"error": "busy"}))
    record, _ = await _run(_settings(tmp_path, runpod=runpod), make_request(tmp_path, image=photo))
    assert runpod.submits == 1
    assert record.state is JobState.SUBMITTED and record.provider_job_id is None
    assert "not sent again" in record.message


async def test_cancel_while_queued_calls_provider_cancel_once(tmp_path, photo):
    with RunpodEmulator(api_key=KEY, queue_s=5, run_s=5) as runpod:
        settings = _settings(tmp_path, runpod=runpod)
        engine = JobEngine(settings, JobStore(settings.data_dir / "jobs.sqlite3"))
        job_id = await engine.start(make_request(tmp_path, image=photo), api_key=KEY, owner="t")
        await asyncio.sleep(0.4)
        first, _second = await asyncio.gather(engine.cancel(job_id), engine.cancel(job_id))
        await engine.aclose()
        assert len(runpod.cancels) == 1
    assert first.state is JobState.CANCELLED and first.cancel["confirmed"] is True
    assert "confirmed" in first.message


async def test_deadline_keeps_the_job_id(tmp_path, photo):
    with RunpodEmulator(api_key=KEY, queue_s=10, run_s=10) as runpod:
        settings = _settings(tmp_path, runpod=runpod, job_timeout_s=0.6)
        record, _ = await _run(settings, make_request(tmp_path, image=photo))
    assert record.state is JobState.TIMED_OUT
    assert record.provider_job_id in record.message


@pytest.mark.parametrize(("outcome", "state"), [("fail", JobState.FAILED), ("timeout", JobState.TIMED_OUT)])
async def test_provider_failures_end_with_the_job_id(tmp_path, photo, outcome, state):
    with RunpodEmulator(api_key=KEY, queue_s=0.05, run_s=0.05, outcome=outcome) as runpod:
        record, _ = await _run(_settings(tmp_path, runpod=runpod), make_request(tmp_path, image=photo))
    assert record.state is state and record.provider_job_id in record.message


async def test_download_from_private_host_is_refused_unless_it_is_the_provider(tmp_path, photo, runpod):
    # The emulator's own origin is trusted because RUNPOD_ENDPOINT_BASE_URL points at it.
    settings = _settings(tmp_path, runpod=runpod)
    record, _ = await _run(settings, make_request(tmp_path, image=photo))
    assert record.state is JobState.DELIVERED
    # Pointed somewhere else, the same private download URL is refused.
    from jobs.download import download_video
    from net.guard import AddressPolicy
    from net.http import make_client

    client = make_client(AddressPolicy())
    with pytest.raises(Exception, match="private"):
        await download_video(client, f"{runpod.base_url}/files/x.mp4", tmp_path / "x.mp4", max_bytes=10**7, timeout_s=5)
    await client.aclose()


async def test_preview_job_goes_through_the_same_lifecycle(tmp_path, photo):
    settings = _settings(tmp_path)
    request = make_request(tmp_path, image=photo, provider="preview", resolution=Resolution.P480, duration_s=2)
    record, _ = await _run(settings, request, key=None)
    assert record.state is JobState.DELIVERED
    states = [entry["state"] for entry in record.timeline]
    assert states == ["created", "submitted", "queued", "running", "succeeded", "delivered"]
    assert record.video["height"] == 480 and record.video["codec"] == "h264"


async def test_key_is_never_logged_or_stored(tmp_path, runpod, photo, caplog):
    caplog.set_level(logging.DEBUG)
    settings = _settings(tmp_path, runpod=runpod)
    runpod.faults.add("status", Fault.http(500, {"error": "boom"}))
    record, _ = await _run(settings, make_request(tmp_path, image=photo))
    assert KEY not in caplog.text
    assert KEY not in record.to_json()
    for path in settings.data_dir.rglob("*"):
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), path


async def test_prompt_and_seed_are_recorded_exactly(tmp_path, runpod, photo):
    request = replace(make_request(tmp_path, image=photo), seed=987654, seed_was_random=True)
    record, _ = await _run(_settings(tmp_path, runpod=runpod), request)
    assert record.params()["seed"] == 987654
    assert record.request_body["input"]["seed"] == 987654
    assert record.params()["request"]["seed_was_random"] is True


async def test_a_crash_is_logged_without_the_key(tmp_path, runpod, photo, caplog, monkeypatch):
    """Even a bug whose message happens to carry the key is logged redacted, and the job ends visibly."""
    from providers.runpod import RunpodProvider

    async def broken_status(self, job_id):
        raise RuntimeError(f"unexpected state while using {self.secret}")

    monkeypatch.setattr(RunpodProvider, "status", broken_status)
    caplog.set_level(logging.ERROR)
    record, _ = await _run(_settings(tmp_path, runpod=runpod), make_request(tmp_path, image=photo))
    assert record.state is JobState.FAILED and "Internal error" in record.message
    assert "crashed" in caplog.text and "[redacted]" in caplog.text
    assert KEY not in caplog.text
