"""The whole app through its public API (gradio_client), against emulators: acceptance 2–4."""

from __future__ import annotations

import hashlib
import json
import logging
import tempfile
import time
from pathlib import Path

import httpx
import pytest
from gradio_client import handle_file

from media.video import frame_hashes, probe_video
from tests.app_server import emulator_settings, running_app
from tests.emulators.coretoday import CoretodayEmulator
from tests.emulators.runpod import RunpodEmulator
from tests.helpers import make_photo

KEY = "sk-SENTINEL-8f3a9c2e71d04b5f"


@pytest.fixture(scope="module")
def emulators():
    with (
        RunpodEmulator(api_key=KEY, queue_s=0.3, run_s=0.3) as rp,
        CoretodayEmulator(api_key=KEY, queue_s=0.3, run_s=0.3) as ct,
    ):
        yield rp, ct


@pytest.fixture(scope="module")
def app(emulators, tmp_path_factory):
    rp, ct = emulators
    data = tmp_path_factory.mktemp("appdata")
    settings = emulator_settings(data, runpod_url=rp.base_url, coretoday_url=ct.base_url)
    with running_app(settings) as running:
        yield running


@pytest.fixture(scope="module")
def landscape(tmp_path_factory) -> Path:
    return make_photo(tmp_path_factory.mktemp("img") / "landscape.png", 900, 600)


@pytest.fixture(scope="module")
def portrait(tmp_path_factory) -> Path:
    return make_photo(tmp_path_factory.mktemp("img") / "portrait.png", 600, 900)


def _preview(client, image: Path, seed: int, **extra):
    return client.predict(
        image=handle_file(str(image)),
        prompt="gentle orbit around the subject",
        provider="preview",
        resolution="480p",
        duration=2,
        seed=seed,
        api_name="/generate",
        **extra,
    )


def test_preview_acceptance_480p_2s(client, landscape):
    status, video, params, params_file = _preview(client, landscape, 1234)
    info = probe_video(video)
    assert info.video_codec == "h264" and info.pix_fmt == "yuv420p"
    assert min(info.width, info.height) == 480 and info.width > info.height
    assert abs(info.duration_s - 2) <= 0.3
    assert info.faststart
    assert params["seed"] == 1234 and params["request"]["seed_was_random"] is False
    assert params["state"] == "delivered" and params["output"]["sha256"]
    assert json.loads(Path(params_file).read_text())["seed"] == 1234
    assert "Done" in status
    again = _preview(client, landscape, 1234)
    assert frame_hashes(again[1]) == frame_hashes(video)


def test_preview_keeps_portrait_orientation(client, portrait):
    _, video, _, _ = _preview(client, portrait, 7)
    info = probe_video(video)
    assert info.width == 480 and info.height > info.width


def test_random_seed_is_drawn_and_recorded(client, landscape):
    _, _, params, _ = _preview(client, landscape, -1)
    assert isinstance(params["seed"], int) and 0 <= params["seed"] <= 2_147_483_647
    assert params["request"]["seed_was_random"] is True
    assert params["request_body"]["seed"] == params["seed"]


def test_runpod_run_through_the_app(client, emulators, landscape):
    rp, _ = emulators
    before = rp.submits
    _status, video, params, _ = client.predict(
        image=handle_file(str(landscape)),
        prompt="waves rolling in",
        provider="runpod",
        resolution="720p",
        duration=5,
        seed=42,
        api_key=KEY,
        api_name="/generate",
    )
    assert rp.submits == before + 1
    body = rp.requests_for("submit")[-1].body["input"]
    assert body["size"] == "1280*720" and body["duration"] == 5 and body["seed"] == 42
    assert params["output"]["source_sha256"] == hashlib.sha256(rp.video_bytes).hexdigest()
    assert frame_hashes(video) == frame_hashes(_as_file(rp.video_bytes))
    assert params["provider"] == "runpod" and params["job_id"]
    assert params["cost"]["source"] == "provider"


def test_coretoday_run_through_the_app(client, emulators, landscape):
    _, ct = emulators
    before = ct.submits
    _, _video, params, _ = client.predict(
        image=handle_file(str(landscape)),
        prompt="waves rolling in",
        provider="coretoday",
        resolution="480p",
        duration=5,
        seed=42,
        enable_prompt_expansion=True,
        api_key=KEY,
        api_name="/generate",
    )
    assert ct.submits == before + 1
    assert params["output"]["source_sha256"] == hashlib.sha256(ct.video_bytes).hexdigest()
    assert params["media_transport"]["image"] == "upload"
    assert params["request_body"]["input"]["enable_prompt_expansion"] is True


def test_invalid_duration_is_refused_before_any_provider_call(client, emulators, landscape):
    _, ct = emulators
    before = len(ct.requests)
    with pytest.raises(Exception, match="duration"):
        client.predict(
            image=handle_file(str(landscape)),
            prompt="x",
            provider="coretoday",
            duration=7,
            api_key=KEY,
            api_name="/generate",
        )
    assert len(ct.requests) == before


def test_missing_key_is_a_clear_error(client, landscape):
    with pytest.raises(Exception, match="RUNPOD_API_KEY"):
        client.predict(image=handle_file(str(landscape)), prompt="x", provider="runpod", api_name="/generate")


def test_cancel_during_queue_calls_provider_cancel_once(app, emulators, landscape):
    rp, _ = emulators
    rp.queue_s = 30
    try:
        client = app.client()
        cancels_before = len(rp.cancels)
        submits_before = rp.submits
        job = client.submit(
            image=handle_file(str(landscape)),
            prompt="slow pan",
            provider="runpod",
            duration=5,
            api_key=KEY,
            api_name="/generate",
        )
        _wait_for(lambda: rp.submits == submits_before + 1, "the submit")
        time.sleep(0.5)
        job.cancel()
        _wait_for(lambda: len(rp.cancels) == cancels_before + 1, "the provider cancel")
        time.sleep(1.0)
        assert len(rp.cancels) == cancels_before + 1
        client.close()
    finally:
        rp.queue_s = 0.3


def test_closing_the_connection_does_not_cancel_the_job(app, emulators, landscape):
    """A raw browser-like session: join the queue, read a few events, drop the stream."""
    rp, _ = emulators
    rp.run_s = 2.0
    try:
        submits_before, cancels_before = rp.submits, len(rp.cancels)
        info = httpx.get(f"{app.url}/config").json()
        fn_index = next(i for i, d in enumerate(info["dependencies"]) if d.get("api_name") == "generate")
        uploaded = httpx.post(
            f"{app.url}/gradio_api/upload", files={"files": ("a.png", landscape.read_bytes(), "image/png")}
        ).json()[0]
        image = {"path": uploaded, "meta": {"_type": "gradio.FileData"}, "orig_name": "a.png"}
        data = [image, "slow pan", "", None, "runpod", "720p", 5, -1, False, True, KEY, "", 0, "", ""]
        session = "dropsession1"
        httpx.post(
            f"{app.url}/gradio_api/queue/join",
            json={"data": data, "fn_index": fn_index, "session_hash": session, "event_data": None, "trigger_id": None},
        ).raise_for_status()
        with httpx.stream("GET", f"{app.url}/gradio_api/queue/data", params={"session_hash": session}) as stream:
            for line in stream.iter_lines():
                if "process_generating" in line:
                    break
        _wait_for(lambda: rp.submits == submits_before + 1, "the submit")
        engine = app.engine
        _wait_for(lambda: _delivered_jobs(engine, rp), "the job to finish server-side", timeout=20)
        assert len(rp.cancels) == cancels_before
    finally:
        rp.run_s = 0.3


def _delivered_jobs(engine, rp) -> bool:
    job_id = rp.requests_for("submit")[-1].job_id
    records = engine.store.list_for_owner("session:dropsession1")
    return any(r.provider_job_id == job_id and r.state.value == "delivered" for r in records)


def test_key_never_appears_in_outputs_logs_or_files(app, emulators, landscape, caplog):
    caplog.set_level(logging.DEBUG)
    client = app.client()
    job = client.submit(
        image=handle_file(str(landscape)),
        prompt="fog drifting",
        provider="runpod",
        duration=5,
        api_key=KEY,
        api_name="/generate",
    )
    job.result()
    outputs = json.dumps([str(o) for o in job.outputs()])
    assert KEY not in outputs
    assert KEY not in caplog.text
    for path in app.settings.data_dir.rglob("*"):
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), path
    config = httpx.get(f"{app.url}/config").text + httpx.get(f"{app.url}/gradio_api/info").text
    assert KEY not in config
    client.close()


def _wait_for(condition, what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _as_file(data: bytes) -> str:
    path = Path(tempfile.mkdtemp()) / "v.mp4"
    path.write_bytes(data)
    return str(path)
