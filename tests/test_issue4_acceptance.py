"""Issue 4 acceptance through the public API of the running app (gradio_client, in-process server).

a) dropping the connection loses nothing: the job finishes server-side and shows in its owner's history;
b) a job submitted outside the app is recovered by its provider id, without a second submit;
c) an MP4 made by the app carries its settings, which restore every input and reproduce the frames;
d) a repeated request key from the same owner is one job and one submit.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
import wave
from pathlib import Path

import httpx
import numpy as np
import pytest
from gradio_client import Client, handle_file

from jobs.replay import read_params, settings_from_params
from media.video import frame_hashes, probe_video, read_comment
from tests.app_server import emulator_settings, running_app
from tests.emulators.runpod import RunpodEmulator
from tests.helpers import make_photo

KEY = "rpa_ISSUE4ACCEPTANCEKEY0123456789ab"
APP_AGENT = "wan-i2v-studio"  # the app's User-Agent towards providers


def _token(label: str) -> str:
    """A fresh owner token ([A-Za-z0-9_-], 16+ chars), one per test so histories do not mix."""
    return f"owner{label}{secrets.token_hex(8)}"


@pytest.fixture(scope="module")
def runpod():
    with RunpodEmulator(api_key=KEY, queue_s=0.2, run_s=0.3) as emulator:
        yield emulator


@pytest.fixture(scope="module")
def app(runpod, tmp_path_factory):
    settings = emulator_settings(tmp_path_factory.mktemp("issue4-data"), runpod_url=runpod.base_url)
    with running_app(settings) as running:
        yield running


@pytest.fixture(scope="module")
def photo(tmp_path_factory) -> Path:
    return make_photo(tmp_path_factory.mktemp("issue4-img") / "photo.png", 900, 600)


@pytest.fixture(scope="module")
def voice(tmp_path_factory) -> Path:
    """A 4 s mono 16-bit wav (a rising tone), longer than the 2 s video so it gets cut."""
    path = tmp_path_factory.mktemp("issue4-audio") / "voice.wav"
    rate = 16_000
    t = np.arange(4 * rate) / rate
    samples = (0.3 * np.sin(2 * np.pi * (220 + 60 * t) * t) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(samples.tobytes())
    return path


def _wait_for(condition, what: str, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _history_endpoint(c: Client) -> str:
    """The history API, as documented in the README."""
    return "/history"


def _history(app, token: str) -> list[dict]:
    """The owner's history from a brand-new client (a new browser, a new session)."""
    fresh = app.client()
    try:
        return fresh.predict(owner_token=token, api_name=_history_endpoint(fresh))
    finally:
        fresh.close()


def test_history_api_is_served_as_documented(client):
    assert "/history" in client.view_api(print_info=False, return_format="dict")["named_endpoints"]


def _sha256(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


# ---- a) drop the connection -----------------------------------------------------------------


def _start_with_gradio_client_then_close(app, photo: Path, token: str) -> None:
    """gradio_client `submit`, then `close()` at once (the heartbeat ends: the server sees the session go)."""
    dropping = app.client()
    dropping.submit(
        image=handle_file(str(photo)),
        prompt="slow pan across the harbour",
        provider="runpod",
        resolution="720p",
        duration=5,
        seed=11,
        api_key=KEY,
        owner_token=token,
        api_name="/generate",
    )
    dropping.close()


def _start_with_raw_sse_then_drop(app, photo: Path, token: str) -> None:
    """A browser-like session: join the queue, read until generation starts, drop the stream."""
    config = httpx.get(f"{app.url}/config").json()
    fn_index = next(i for i, d in enumerate(config["dependencies"]) if d.get("api_name") == "generate")
    uploaded = httpx.post(
        f"{app.url}/gradio_api/upload", files={"files": ("p.png", photo.read_bytes(), "image/png")}
    ).json()[0]
    image = {"path": uploaded, "meta": {"_type": "gradio.FileData"}, "orig_name": "p.png"}
    # image, prompt, negative_prompt, audio, provider, resolution, duration, seed, expansion, safety,
    # api_key, image_url, audio_start, owner_token, request_key
    data = [image, "slow pan across the harbour", "", None, "runpod", "720p", 5, 11, False, True, KEY, "", 0, token, ""]
    session = f"drop{secrets.token_hex(6)}"
    httpx.post(
        f"{app.url}/gradio_api/queue/join",
        json={"data": data, "fn_index": fn_index, "session_hash": session, "event_data": None, "trigger_id": None},
    ).raise_for_status()
    with httpx.stream("GET", f"{app.url}/gradio_api/queue/data", params={"session_hash": session}) as stream:
        for line in stream.iter_lines():
            if "process_generating" in line:
                break  # leaving the block closes the connection mid-job


@pytest.mark.parametrize("drop", ["gradio_client_close", "raw_sse_drop"])
def test_a_dropped_connection_finishes_server_side_and_is_in_the_owners_history(app, runpod, photo, drop):
    owner_a, owner_b = _token("A"), _token("B")
    submits, cancels = runpod.submits, len(runpod.cancels)
    runpod.run_s = 1.5
    try:
        if drop == "gradio_client_close":
            _start_with_gradio_client_then_close(app, photo, owner_a)
        else:
            _start_with_raw_sse_then_drop(app, photo, owner_a)
        _wait_for(lambda: runpod.submits == submits + 1, "the submit")
        provider_id = runpod.requests_for("submit")[-1].job_id
        assert runpod.get_job(provider_id).phase().value in ("queued", "running")  # dropped mid-job

        def delivered_in_ledger():
            records = app.engine.store.list_for_owner(f"token:{owner_a}")
            return any(r.provider_job_id == provider_id and r.state.value == "delivered" for r in records)

        _wait_for(delivered_in_ledger, "the job to be delivered server-side", timeout=30)
    finally:
        runpod.run_s = 0.3

    (params,) = _history(app, owner_a)  # asked from a new client: a new browser, a new session
    assert params["job_id"] == provider_id and params["state"] == "delivered"
    assert runpod.submits == submits + 1
    assert len(runpod.cancels) == cancels  # a dropped connection is not a cancel
    assert params["output"]["source_sha256"] == hashlib.sha256(runpod.video_bytes).hexdigest()
    assert params["seed"] == 11 and params["request"]["prompt"] == "slow pan across the harbour"
    video = Path(app.settings.videos_dir) / params["output"]["file"]
    assert video.is_file() and probe_video(video).video_codec == "h264"
    # Another owner sees none of it.
    assert _history(app, owner_b) == []


# ---- b) recover by id -----------------------------------------------------------------------


def test_b_recover_a_job_submitted_outside_the_app(app, runpod, client, photo):
    owner = _token("A")
    submits = runpod.submits
    image = "data:image/png;base64," + base64.b64encode(photo.read_bytes()).decode()
    answer = httpx.post(
        f"{runpod.base_url}/v2/wan-2-5/run",
        json={"input": {"prompt": "made by a script, not the app", "image": image, "seed": 5, "duration": 5}},
        headers={"Authorization": f"Bearer {KEY}"},
    )
    answer.raise_for_status()
    provider_id = answer.json()["id"]
    assert runpod.submits == submits + 1

    status, video, params, params_file = client.predict(
        provider="runpod", job_id=provider_id, api_key=KEY, owner_token=owner, api_name="/recover"
    )

    info = probe_video(video)
    assert (info.video_codec, info.width, info.height) == ("h264", 854, 480)
    assert params["job_id"] == provider_id and params["state"] == "delivered"
    assert params["request"]["adopted"] is True
    assert params["output"]["source_sha256"] == hashlib.sha256(runpod.video_bytes).hexdigest()
    assert params["cost"]["source"] == "provider"
    assert json.loads(Path(params_file).read_text())["job_id"] == provider_id
    assert KEY not in json.dumps(params) and KEY not in str(status)
    # Exactly one submit: the direct one. The app only polled and downloaded.
    assert runpod.submits == submits + 1
    new_submits = runpod.requests_for("submit")[-1:]
    assert [r.job_id for r in new_submits] == [provider_id]
    assert all(r.headers.get("user-agent") != APP_AGENT for r in new_submits)
    assert any(r.headers.get("user-agent") == APP_AGENT for r in runpod.requests_for("status"))
    # Filed under the owner who recovered it.
    assert [p["job_id"] for p in _history(app, owner)] == [provider_id]


# ---- c) load settings from an MP4 ---------------------------------------------------------------


def test_c_settings_from_the_mp4_restore_every_input_and_reproduce_the_frames(app, client, photo, voice):
    sent = dict(
        prompt="the lighthouse beam sweeps, zoom in",
        negative_prompt="blurry, text",
        provider="preview",
        resolution="480p",
        duration=2,
        seed=777,
        enable_prompt_expansion=False,
        enable_safety_checker=True,
        audio_start=0.0,
    )
    _, first_video, first_params, _ = client.predict(
        image=handle_file(str(photo)), audio=handle_file(str(voice)), **sent, api_name="/generate"
    )
    assert first_params["state"] == "delivered"

    # The MP4 itself carries the params (its comment tag is plain JSON).
    embedded = json.loads(read_comment(first_video))
    assert embedded["seed"] == 777 and embedded["studio_job_id"] == first_params["studio_job_id"]

    params = read_params(first_video)
    replay = settings_from_params(params, app.settings.inputs_dir)
    restored = {
        "prompt": replay.prompt,
        "negative_prompt": replay.negative_prompt,
        "provider": replay.provider,
        "resolution": replay.resolution,
        "duration": replay.duration,
        "seed": replay.seed,
        "enable_prompt_expansion": replay.enable_prompt_expansion,
        "enable_safety_checker": replay.enable_safety_checker,
        "audio_start": replay.audio_start,
    }
    assert restored == sent
    assert replay.image_path and Path(replay.image_path).is_file()
    assert _sha256(replay.image_path) == params["request"]["image"]["sha256"]
    assert replay.audio_path and Path(replay.audio_path).is_file()
    assert _sha256(replay.audio_path) == params["request"]["audio"]["sha256"]

    # Generate again with exactly the restored values: the same frames.
    _, second_video, second_params, _ = client.predict(
        image=handle_file(replay.image_path),
        audio=handle_file(replay.audio_path),
        **restored,
        api_name="/generate",
    )
    assert second_params["studio_job_id"] != first_params["studio_job_id"]
    assert second_params["request"]["image"]["sha256"] == params["request"]["image"]["sha256"]
    assert second_params["request"]["audio"]["sha256"] == params["request"]["audio"]["sha256"]
    assert frame_hashes(second_video) == frame_hashes(first_video)
    assert probe_video(second_video).has_audio


# ---- d) idempotent generate -------------------------------------------------------------------


def test_d_a_repeated_request_key_is_one_job_and_one_submit(app, runpod, photo):
    owner, other_owner = _token("D"), _token("E")
    submits = runpod.submits
    callers = [app.client() for _ in range(2)]  # two tabs (or a retrying script) with the same key

    def generate(c: Client, token: str, key: str):
        return c.submit(
            image=handle_file(str(photo)),
            prompt="tide coming in",
            provider="runpod",
            resolution="480p",
            duration=5,
            seed=3,
            api_key=KEY,
            owner_token=token,
            request_key=key,
            api_name="/generate",
        )

    try:
        same = [generate(c, owner, "req-0001") for c in callers]
        first, second = (job.result(timeout=30)[2] for job in same)
        assert first["studio_job_id"] == second["studio_job_id"]
        assert first["job_id"] == second["job_id"] and first["state"] == second["state"] == "delivered"
        assert runpod.submits == submits + 1

        # Asking again later, after it finished, still returns that job.
        again = generate(callers[0], owner, "req-0001").result(timeout=30)[2]
        assert again["studio_job_id"] == first["studio_job_id"] and runpod.submits == submits + 1

        # A different key is a new job; so is the same key from another owner.
        other_key = generate(callers[0], owner, "req-0002").result(timeout=30)[2]
        assert other_key["studio_job_id"] != first["studio_job_id"] and other_key["job_id"] != first["job_id"]
        assert runpod.submits == submits + 2
        other_owner_job = generate(callers[1], other_owner, "req-0001").result(timeout=30)[2]
        assert other_owner_job["studio_job_id"] not in (first["studio_job_id"], other_key["studio_job_id"])
        assert runpod.submits == submits + 3
    finally:
        for c in callers:
            c.close()

    mine = _history(app, owner)
    assert sorted(p["studio_job_id"] for p in mine) == sorted([first["studio_job_id"], other_key["studio_job_id"]])
