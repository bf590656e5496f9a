"""Tests of the provider emulators themselves, with plain httpx against 127.0.0.1 only.

Contract: shared/reference/providers.md §1 (Runpod) and §2 (core.today).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import json
import ssl
import time
from collections.abc import Iterator
from typing import Any

import av
import httpx
import pytest

from tests.emulators import CoretodayEmulator, Fault, RunpodEmulator, sample_mp4
from tests.emulators.coretoday import MODEL

KEY = "emu-test-key"
RP_INPUT: dict[str, Any] = {"prompt": "a cat surfing a wave", "image": "https://example.com/cat.png"}
CT_INPUT: dict[str, Any] = {"prompt": "a cat surfing a wave", "image": "https://example.com/cat.png"}
PNG_BYTES = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8
MISSING = object()  # in a parametrized change: leave the key out
RP_TERMINAL = {"COMPLETED", "FAILED", "TIMED_OUT", "CANCELLED"}
CT_TERMINAL = {"completed", "succeeded", "failed", "cancelled"}


# -- fixtures and helpers ---------------------------------------------------------------------

# Every client here speaks plain http to 127.0.0.1; sharing one TLS context spares the 25 ms that
# httpx spends building one per client, and trust_env=False keeps proxy variables out of the way.
TLS = ssl.create_default_context()


def local_client(**options: Any) -> httpx.Client:
    return httpx.Client(verify=TLS, trust_env=False, timeout=5, **options)


def rp_client(emulator: RunpodEmulator) -> httpx.Client:
    """A client rooted at ``/v2/wan-2-5`` with the right Bearer key."""
    return local_client(base_url=f"{emulator.base_url}/v2/wan-2-5", headers={"Authorization": f"Bearer {KEY}"})


def ct_client(emulator: CoretodayEmulator) -> httpx.Client:
    """A client rooted at ``/v1`` with the right X-API-Key."""
    return local_client(base_url=f"{emulator.base_url}/v1", headers={"X-API-Key": KEY})


def fetch(url: str) -> httpx.Response:
    with local_client() as client:
        return client.get(url)


@pytest.fixture
def runpod() -> Iterator[RunpodEmulator]:
    with RunpodEmulator(api_key=KEY, queue_s=0.05, run_s=0.05) as emulator:
        yield emulator


@pytest.fixture
def rp(runpod: RunpodEmulator) -> Iterator[httpx.Client]:
    with rp_client(runpod) as client:
        yield client


@pytest.fixture
def coretoday() -> Iterator[CoretodayEmulator]:
    with CoretodayEmulator(api_key=KEY, queue_s=0.05, run_s=0.05) as emulator:
        yield emulator


@pytest.fixture
def ct(coretoday: CoretodayEmulator) -> Iterator[httpx.Client]:
    with ct_client(coretoday) as client:
        yield client


def rp_submit(client: httpx.Client, **changes: Any) -> str:
    response = client.post("/run", json={"input": {**RP_INPUT, **changes}})
    assert response.status_code == 200, response.text
    return response.json()["id"]


def ct_submit(client: httpx.Client, **changes: Any) -> dict[str, Any]:
    response = client.post("/predictions", json={"model": MODEL, "input": {**CT_INPUT, **changes}})
    assert response.status_code == 200, response.text
    return response.json()


def poll(client: httpx.Client, path: str, terminal: set[str], timeout: float = 5.0) -> list[dict[str, Any]]:
    """Poll until a terminal status; returns the first body seen for each distinct status, in order."""
    changes: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = client.get(path).json()
        if not changes or changes[-1]["status"] != body["status"]:
            changes.append(body)
        if body["status"] in terminal:
            return changes
        time.sleep(0.01)
    raise AssertionError(f"no terminal status after {timeout} s: {changes}")


# -- sample video -----------------------------------------------------------------------------


def test_sample_mp4_is_h264_yuv420p_854x480_one_second() -> None:
    with av.open(io.BytesIO(sample_mp4())) as container:
        stream = container.streams.video[0]
        assert (stream.codec_context.name, stream.codec_context.pix_fmt) == ("h264", "yuv420p")
        assert (stream.width, stream.height, stream.average_rate) == (854, 480, 24)
        assert sum(1 for _ in container.decode(stream)) == 24
    assert sample_mp4() is sample_mp4()  # cached per process


# -- Runpod -----------------------------------------------------------------------------------


def test_runpod_job_goes_in_queue_in_progress_completed_and_video_downloads() -> None:
    with (
        RunpodEmulator(api_key=KEY, queue_s=0.3, run_s=0.3) as emulator,
        local_client(headers={"Authorization": f"Bearer {KEY}"}) as client,
    ):
        submitted = client.post(f"{emulator.base_url}/v2/wan-2-5/run", json={"input": RP_INPUT})
        job_id = submitted.json()["id"]
        assert submitted.json() == {"id": job_id, "status": "IN_QUEUE"}

        queued, running, done = poll(client, f"{emulator.base_url}/v2/wan-2-5/status/{job_id}", RP_TERMINAL)

        assert queued == {"id": job_id, "status": "IN_QUEUE"}
        assert running == {"id": job_id, "status": "IN_PROGRESS", "delayTime": 300, "input": RP_INPUT}
        assert done == {
            "id": job_id,
            "status": "COMPLETED",
            "delayTime": 300,
            "executionTime": 300,
            "workerId": emulator.worker_id,
            "output": {"video_url": f"{emulator.base_url}/files/{job_id}.mp4", "cost": 0.5},
        }
        video = fetch(done["output"]["video_url"])
        assert video.headers["content-type"] == "video/mp4"
        assert video.headers["content-length"] == str(len(sample_mp4()))
        assert video.content == sample_mp4()
        assert (emulator.downloads, emulator.accepted_submits) == (1, 1)


@pytest.mark.parametrize("output_key", ["video_url", "result"])
def test_runpod_output_key_is_configurable(output_key: str) -> None:
    with RunpodEmulator(api_key=KEY, queue_s=0, run_s=0, output_key=output_key, video_bytes=b"vid") as emulator:
        client = rp_client(emulator)
        output = client.get(f"/status/{rp_submit(client)}").json()["output"]
        assert set(output) == {output_key, "cost"}
        assert fetch(output[output_key]).content == b"vid"


@pytest.mark.parametrize(
    ("size", "duration", "cost"),
    [("854*480", 5, 0.25), ("1280*720", 10, 1.0), ("1920*1080", 5, 0.75), ("720*1280", 5, 0.5), ("1024*1024", 5, 0.75)],
)
def test_runpod_cost_follows_the_price_table(size: str, duration: int, cost: float) -> None:
    with RunpodEmulator(api_key=KEY, queue_s=0, run_s=0) as emulator:
        client = rp_client(emulator)
        job_id = rp_submit(client, size=size, duration=duration)
        assert client.get(f"/status/{job_id}").json()["output"]["cost"] == cost


def test_runpod_outcomes_fail_timeout_hang_and_default(runpod: RunpodEmulator, rp: httpx.Client) -> None:
    runpod.next_outcomes.extend(["fail", "timeout", "hang"])
    failed, timed_out, hanging, default = (rp_submit(rp) for _ in range(4))
    time.sleep(0.2)

    assert rp.get(f"/status/{failed}").json() == {"id": failed, "status": "FAILED", "error": runpod.fail_error}
    assert rp.get(f"/status/{timed_out}").json() == {"id": timed_out, "status": "TIMED_OUT"}
    assert rp.get(f"/status/{hanging}").json()["status"] == "IN_PROGRESS"
    assert rp.get(f"/status/{default}").json()["status"] == "COMPLETED"
    assert fetch(f"{runpod.base_url}/files/{failed}.mp4").status_code == 404
    with pytest.raises(ValueError, match="unknown outcome"):
        runpod.next_outcomes.append("explode")  # type: ignore[arg-type]


def test_runpod_cancel_flips_a_queued_job_and_leaves_a_finished_one(rp: httpx.Client) -> None:
    with RunpodEmulator(api_key=KEY, queue_s=10, run_s=0) as emulator:
        client = rp_client(emulator)
        queued = rp_submit(client)
        assert client.post(f"/cancel/{queued}").json() == {"id": queued, "status": "CANCELLED"}
        assert client.get(f"/status/{queued}").json() == {"id": queued, "status": "CANCELLED"}
        assert client.post("/cancel/no-such-job").status_code == 404
        assert emulator.cancels == [queued, "no-such-job"]

    finished = rp_submit(rp)
    time.sleep(0.15)
    assert rp.post(f"/cancel/{finished}").json() == {"id": finished, "status": "COMPLETED"}
    assert rp.get(f"/status/{finished}").json()["status"] == "COMPLETED"


def test_runpod_404_for_unknown_job_other_endpoint_and_after_ttl() -> None:
    with RunpodEmulator(api_key=KEY, queue_s=0, run_s=0, ttl_s=0.2) as emulator:
        client = local_client(base_url=emulator.base_url, headers={"Authorization": f"Bearer {KEY}"})
        assert client.get("/v2/wan-2-5/status/unknown-id").status_code == 404
        assert client.post("/v2/other-model/run", json={"input": RP_INPUT}).status_code == 404
        assert client.get("/v2/wan-2-5/run").status_code == 405

        job_id = client.post("/v2/wan-2-5/run", json={"input": RP_INPUT}).json()["id"]
        assert client.get(f"/v2/wan-2-5/status/{job_id}").json()["status"] == "COMPLETED"
        time.sleep(0.3)
        expired = client.get(f"/v2/wan-2-5/status/{job_id}")
        assert expired.status_code == 404
        assert "error" in expired.json()
        assert client.get(f"/files/{job_id}.mp4").status_code == 200  # the video URL outlives the record


def test_runpod_auth_rejects_missing_and_wrong_keys_and_records_the_form(runpod: RunpodEmulator) -> None:
    url = f"{runpod.base_url}/v2/wan-2-5/run"
    body = {"input": RP_INPUT}
    with local_client() as client:
        missing = client.post(url, json=body)
        wrong = client.post(url, json=body, headers={"Authorization": "Bearer nope"})
        bare = client.post(url, json=body, headers={"Authorization": KEY})

    assert (missing.status_code, wrong.status_code, bare.status_code) == (401, 401, 200)
    assert "error" in wrong.json()
    assert KEY not in wrong.text
    assert [r.auth_form for r in runpod.requests] == ["missing", "bearer", "bare"]
    assert (runpod.submits, runpod.accepted_submits) == (3, 1)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"prompt": MISSING}, "input.prompt"),
        ({"prompt": "  "}, "input.prompt"),
        ({"image": MISSING}, "input.image"),
        ({"image": "not-a-url"}, "input.image"),
        ({"image": "data:image/png;base64,@@@"}, "input.image"),
        ({"image": "data:text/plain;base64,aGk="}, "input.image"),
        ({"duration": "5"}, "input.duration"),
        ({"duration": True}, "input.duration"),
        ({"duration": 11}, "input.duration"),
        ({"size": "1280x720"}, "input.size"),
        ({"seed": -2}, "input.seed"),
        ({"seed": 2**31}, "input.seed"),
        ({"enable_prompt_expansion": "false"}, "input.enable_prompt_expansion"),
        ({"enable_safety_checker": 1}, "input.enable_safety_checker"),
        ({"negative_prompt": None}, "input.negative_prompt"),
        ({"audio": "voice.mp3"}, "input.audio"),
        ({"resolution": "720p"}, "input.resolution"),
    ],
)
def test_runpod_rejects_bad_input_with_400_naming_the_field(
    runpod: RunpodEmulator, rp: httpx.Client, changes: dict[str, Any], field: str
) -> None:
    job_input = {k: v for k, v in {**RP_INPUT, **changes}.items() if v is not MISSING}
    response = rp.post("/run", json={"input": job_input})
    assert response.status_code == 400
    assert response.json()["error"].startswith(field + ":")
    assert (runpod.submits, runpod.accepted_submits) == (1, 0)
    assert runpod.requests[0].body == {"input": job_input}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "input"),
        ({"input": "x"}, "input"),
        ({"inputs": RP_INPUT}, "inputs"),
        ({"input": RP_INPUT, "policy": {"ttl": 5}}, "policy.ttl"),
        ({"input": RP_INPUT, "webhook": "nowhere"}, "webhook"),
    ],
)
def test_runpod_rejects_bad_top_level_fields(rp: httpx.Client, body: dict[str, Any], field: str) -> None:
    response = rp.post("/run", json=body)
    assert response.status_code == 400
    assert response.json()["error"].startswith(field + ":")


def test_runpod_accepts_every_documented_field_data_uris_and_rejects_over_10_mb(rp: httpx.Client) -> None:
    full = {
        **RP_INPUT,
        "image": "data:image/png;base64," + base64.b64encode(PNG_BYTES).decode(),
        "audio": "data:audio/mpeg;base64,SUQz",
        "negative_prompt": "",
        "size": "1920*1080",
        "duration": 10,
        "seed": -1,
        "enable_prompt_expansion": False,
        "enable_safety_checker": True,
    }
    policy = {"executionTimeout": 600_000, "ttl": 86_400_000, "lowPriority": False}
    ok = rp.post("/run", json={"input": full, "webhook": "https://example.com/hook", "policy": policy})
    assert ok.status_code == 200, ok.text

    huge = "data:image/png;base64," + "A" * (10 * 1024 * 1024)
    too_big = rp.post("/run", json={"input": {**RP_INPUT, "image": huge}})
    assert too_big.status_code == 413
    assert "10 MB" in too_big.json()["error"]


# -- core.today -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("shape", "as_list"),
    [("job_id", False), ("job_id", True), ("id", False)],
)
def test_coretoday_progression_in_each_documented_shape(shape: str, as_list: bool) -> None:
    options = {"shape": shape, "result_as_list": as_list, "queue_s": 0.2, "run_s": 0.2}
    with CoretodayEmulator(api_key=KEY, **options) as emulator:  # type: ignore[arg-type]
        client = ct_client(emulator)
        created = ct_submit(client, duration=10, resolution="480p")
        job_id = created[shape]
        url = f"{emulator.base_url}/files/{job_id}.mp4"

        pending, processing, done = poll(client, f"/predictions/{job_id}", CT_TERMINAL)

        assert [pending["status"], processing["status"]] == ["pending", "processing"]
        assert created["status"] == "pending"
        if shape == "job_id":
            assert created.keys() >= {"job_id", "status", "provider", "model", "created_at", "result", "error"}
            assert (created["provider"], created["model"], created["result"]) == ("replicate", MODEL, None)
            assert done["status"] == "completed"
            assert done["result"] == ([url] if as_list else url)
            assert done["public_url"] is None
        else:
            assert created.keys() >= {"id", "status", "model", "input", "created_at"}
            assert created["input"] == {**CT_INPUT, "duration": 10, "resolution": "480p"}
            assert (done["status"], done["output"]) == ("succeeded", [url])
            assert done["metrics"] == pytest.approx({"total_time": 0.4, "queue_time": 0.2, "run_time": 0.2})
        assert fetch(url).content == sample_mp4()


def test_coretoday_failure_timeout_and_cancel(coretoday: CoretodayEmulator, ct: httpx.Client) -> None:
    coretoday.next_outcomes.extend(["fail", "timeout", "hang"])
    failed, timed_out, hanging = (ct_submit(ct)["job_id"] for _ in range(3))
    time.sleep(0.15)

    assert ct.get(f"/predictions/{failed}").json() | {"created_at": None} == {
        "job_id": failed,
        "status": "failed",
        "provider": "replicate",
        "model": MODEL,
        "created_at": None,
        "result": None,
        "error": coretoday.fail_error,
        "public_url": None,
    }
    assert ct.get(f"/predictions/{timed_out}").json()["status"] == "failed"
    assert ct.get(f"/predictions/{hanging}").json()["status"] == "processing"

    cancelled = ct.delete(f"/predictions/{hanging}")
    assert (cancelled.status_code, cancelled.json()["status"]) == (200, "cancelled")
    assert ct.get(f"/predictions/{hanging}").json()["status"] == "cancelled"
    assert ct.delete(f"/predictions/{failed}").json()["status"] == "failed"  # finished: unchanged
    assert ct.delete("/predictions/job_nope").status_code == 404
    assert ct.get("/predictions/job_nope").status_code == 404
    assert coretoday.cancels == [hanging, failed, "job_nope"]


def test_coretoday_upload_injects_a_downloadable_url(coretoday: CoretodayEmulator, ct: httpx.Client) -> None:
    job_input = {"prompt": "a cat", "duration": 5}
    response = ct.post(
        "/predictions/upload",
        data={"model": MODEL, "input": json.dumps(job_input)},
        files={"file:image": ("cat photo.png", PNG_BYTES, "image/png")},
    )

    assert response.status_code == 200, response.text
    job = coretoday.get_job(response.json()["job_id"])
    assert job is not None
    image_url = job.input["image"]
    assert image_url.startswith(f"{coretoday.base_url}/uploads/")
    served = fetch(image_url)
    assert (served.content, served.headers["content-type"]) == (PNG_BYTES, "image/png")
    [upload] = coretoday.uploads
    assert (upload.field, upload.filename, upload.content_type, upload.size) == (
        "file:image",
        "cat photo.png",
        "image/png",
        len(PNG_BYTES),
    )
    assert upload.sha256 == hashlib.sha256(PNG_BYTES).hexdigest()
    assert (coretoday.submits, coretoday.accepted_submits) == (1, 1)
    assert coretoday.requests[0].body == {"model": MODEL, "input": json.dumps(job_input)}


def test_coretoday_upload_validation(ct: httpx.Client) -> None:
    image = {"file:image": ("a.png", PNG_BYTES, "image/png")}
    twice = [("file:image", ("a.png", PNG_BYTES, "image/png")), ("file:image", ("b.png", PNG_BYTES, "image/png"))]
    form = {"model": MODEL, "input": json.dumps({"prompt": "p"})}

    assert ct.post("/predictions/upload", data=form, files=twice).json()["error"].startswith("input.image:")
    assert ct.post("/predictions/upload", data={**form, "input": "{"}, files=image).status_code == 400
    assert (
        ct.post("/predictions/upload", data={"input": form["input"]}, files=image).json()["error"].startswith("model:")
    )
    bad_name = {"image": ("a.png", PNG_BYTES, "image/png")}
    assert ct.post("/predictions/upload", data=form, files=bad_name).json()["error"].startswith("image:")
    assert ct.post("/predictions/upload", json={"model": MODEL}).status_code == 400


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"image": "data:image/png;base64,iVBORw0KGgo="}, "input.image"),
        ({"image": "ftp://example.com/a.png"}, "input.image"),
        ({"prompt": ""}, "input.prompt"),
        ({"duration": 7}, "input.duration"),
        ({"duration": "5"}, "input.duration"),
        ({"resolution": "720P"}, "input.resolution"),
        ({"size": "1280*720"}, "input.size"),
        ({"audio": "data:audio/mpeg;base64,SUQz"}, "input.audio"),
        ({"seed": 1.5}, "input.seed"),
        ({"enable_prompt_expansion": "yes"}, "input.enable_prompt_expansion"),
    ],
)
def test_coretoday_rejects_bad_input_with_400_naming_the_field(
    coretoday: CoretodayEmulator, ct: httpx.Client, changes: dict[str, Any], field: str
) -> None:
    response = ct.post("/predictions", json={"model": MODEL, "input": {**CT_INPUT, **changes}})
    assert response.status_code == 400
    assert response.json()["error"].startswith(field + ":")
    assert (coretoday.submits, coretoday.accepted_submits) == (1, 0)


def test_coretoday_data_uri_error_points_to_the_upload_route(ct: httpx.Client) -> None:
    response = ct.post(
        "/predictions", json={"model": MODEL, "input": {**CT_INPUT, "image": "data:image/png;base64,AA=="}}
    )
    assert "/v1/predictions/upload" in response.json()["error"]


def test_coretoday_top_level_checks_model_and_accepts_documented_options(ct: httpx.Client) -> None:
    assert ct.post("/predictions", json={"model": "other/model", "input": CT_INPUT}).status_code == 404
    assert ct.post("/predictions", json={"input": CT_INPUT}).json()["error"].startswith("model:")
    assert ct.post("/predictions", json={"model": MODEL, "input": CT_INPUT, "extra": 1}).status_code == 400
    assert ct.post("/predictions", content=json.dumps({"model": MODEL, "input": CT_INPUT})).status_code == 400
    full = {
        "model": MODEL,
        "input": {**CT_INPUT, "duration": 10, "resolution": "1080p", "negative_prompt": "", "seed": 7}
        | {"audio": "https://example.com/a.wav", "enable_prompt_expansion": False},
        "is_public": False,
        "webhook": "https://example.com/hook",
        "webhook_events": ["completed", "failed"],
        "output_folder": "tests",
    }
    assert ct.post("/predictions", json=full).status_code == 200


def test_coretoday_auth_accepts_x_api_key_and_bearer(coretoday: CoretodayEmulator) -> None:
    url = f"{coretoday.base_url}/v1/predictions"
    body = {"model": MODEL, "input": CT_INPUT}
    with local_client() as client:
        codes = [
            client.post(url, json=body, headers=headers).status_code
            for headers in (
                {"X-API-Key": KEY},
                {"Authorization": f"Bearer {KEY}"},
                {"X-API-Key": "wrong"},
                {"Authorization": KEY},
                {},
            )
        ]
    assert codes == [200, 200, 401, 401, 401]
    assert [r.auth_form for r in coretoday.requests] == ["x-api-key", "bearer", "x-api-key", "other", "missing"]
    assert fetch(f"{url}/job_x").status_code == 401


# -- faults -----------------------------------------------------------------------------------


def test_fault_429_with_retry_after_then_normal(runpod: RunpodEmulator, rp: httpx.Client) -> None:
    runpod.faults.add("submit", Fault.http(429, headers={"Retry-After": "1"}))

    limited = rp.post("/run", json={"input": RP_INPUT})
    accepted = rp.post("/run", json={"input": RP_INPUT})

    assert (limited.status_code, limited.headers["retry-after"]) == (429, "1")
    assert limited.json() == {"error": "Too Many Requests"}
    assert accepted.status_code == 200
    assert (runpod.submits, runpod.accepted_submits) == (2, 1)
    assert [r.fault for r in runpod.requests] == ["http", None]


def test_faults_are_consumed_in_order_and_times(runpod: RunpodEmulator, rp: httpx.Client) -> None:
    job_id = rp_submit(rp)
    runpod.faults.add("status", Fault.http(500, {"error": "worker crashed"})).add("status", Fault.http(503), times=2)
    assert runpod.faults.pending("status") == 3

    codes = [rp.get(f"/status/{job_id}").status_code for _ in range(4)]

    assert codes == [500, 503, 503, 200]
    assert runpod.requests_for("status")[0].status == 500
    assert runpod.faults.pending() == 0
    with pytest.raises(ValueError, match="unknown fault route"):
        runpod.faults.add("upload", Fault.reset())


def test_fault_html_502_page(runpod: RunpodEmulator, rp: httpx.Client) -> None:
    runpod.faults.add("status", Fault.html())
    response = rp.get(f"/status/{rp_submit(rp)}")
    assert (response.status_code, response.headers["content-type"]) == (502, "text/html")
    assert "<h1>502 Bad Gateway</h1>" in response.text


def test_fault_reset_aborts_the_connection_without_a_response(runpod: RunpodEmulator, rp: httpx.Client) -> None:
    job_id = rp_submit(rp)
    runpod.faults.add("status", Fault.reset())
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        rp.get(f"/status/{job_id}")
    assert rp.get(f"/status/{job_id}").status_code == 200
    assert [(r.fault, r.status) for r in runpod.requests_for("status")] == [("reset", None), (None, 200)]


def test_fault_delay_causes_a_read_timeout(runpod: RunpodEmulator, rp: httpx.Client) -> None:
    job_id = rp_submit(rp)
    runpod.faults.add("status", Fault.delay(1.0))
    with pytest.raises(httpx.ReadTimeout):
        rp.get(f"/status/{job_id}", timeout=0.2)
    started = time.monotonic()
    assert rp.get(f"/status/{job_id}").status_code == 200
    assert time.monotonic() - started < 0.5


def test_fault_malformed_and_unknown_status(runpod: RunpodEmulator, rp: httpx.Client) -> None:
    job_id = rp_submit(rp)
    runpod.faults.add("status", Fault.malformed()).add("status", Fault.unknown_status())

    malformed = rp.get(f"/status/{job_id}")
    weird = rp.get(f"/status/{job_id}")

    assert malformed.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        malformed.json()
    assert (weird.status_code, weird.json()) == (200, {"id": job_id, "status": "WEIRD_STATE"})


def test_fault_truncated_download_then_403_then_normal(runpod: RunpodEmulator, rp: httpx.Client) -> None:
    job_id = rp_submit(rp)
    time.sleep(0.15)
    video_url = rp.get(f"/status/{job_id}").json()["output"]["video_url"]
    runpod.faults.add("download", Fault.truncated()).add("download", Fault.http(403))

    with pytest.raises(httpx.RemoteProtocolError):
        fetch(video_url)
    assert fetch(video_url).status_code == 403
    assert fetch(video_url).content == sample_mp4()
    assert runpod.downloads == 3
    assert "authorization" not in runpod.requests_for("download")[0].headers


def test_faults_on_coretoday_upload_and_cancel(coretoday: CoretodayEmulator, ct: httpx.Client) -> None:
    coretoday.faults.add("upload", Fault.http(503, "Service Unavailable")).add("cancel", Fault.unknown_status())
    form = {"model": MODEL, "input": json.dumps({"prompt": "p"})}
    image = {"file:image": ("a.png", PNG_BYTES, "image/png")}

    unavailable = ct.post("/predictions/upload", data=form, files=image)
    created = ct.post("/predictions/upload", data=form, files=image).json()
    cancelled = ct.delete(f"/predictions/{created['job_id']}").json()

    assert (unavailable.status_code, unavailable.text) == (503, "Service Unavailable")
    assert cancelled["status"] == "WEIRD_STATE"
    assert (coretoday.submits, coretoday.accepted_submits, len(coretoday.uploads)) == (2, 1, 2)


# -- log, stats, lifecycle, concurrency -------------------------------------------------------


def test_request_log_stats_endpoint_and_reset_log(runpod: RunpodEmulator, rp: httpx.Client) -> None:
    job_id = rp_submit(rp, seed=42)
    rp.get(f"/status/{job_id}", params={"ttl": "60000"})
    rp.post(f"/cancel/{job_id}")

    submit, status, cancel = runpod.requests
    assert (submit.method, submit.path, submit.route, submit.job_id) == ("POST", "/v2/wan-2-5/run", "submit", job_id)
    assert submit.body == {"input": {**RP_INPUT, "seed": 42}}
    assert submit.headers["content-type"] == "application/json"
    assert (status.query, status.route, cancel.route) == ({"ttl": "60000"}, "status", "cancel")
    assert submit.timestamp <= status.timestamp <= cancel.timestamp

    stats = fetch(f"{runpod.base_url}/_emulator/stats").json()
    assert stats == {
        "requests": 3,
        "submits": 1,
        "accepted_submits": 1,
        "status_polls": 1,
        "downloads": 0,
        "cancels": [job_id],
    }
    runpod.reset_log()
    assert (runpod.requests, runpod.submits, runpod.cancels) == ([], 0, [])
    assert runpod.internal_errors == []


def test_lifecycle_stop_closes_keep_alive_connections() -> None:
    emulator = RunpodEmulator(api_key=KEY).start()
    with pytest.raises(RuntimeError):
        emulator.start()
    base_url = emulator.base_url
    client = local_client()
    assert client.get(f"{base_url}/_emulator/stats").status_code == 200  # leaves a kept-alive connection
    emulator.stop()
    emulator.stop()  # idempotent
    with pytest.raises(httpx.TransportError):
        client.get(f"{base_url}/_emulator/stats")
    with pytest.raises(RuntimeError):
        _ = emulator.base_url


def test_100_concurrent_jobs_submit_poll_and_complete_quickly() -> None:
    async def one_job(client: httpx.AsyncClient) -> str:
        submitted = await client.post("/run", json={"input": RP_INPUT})
        job_id = submitted.json()["id"]
        while (status := (await client.get(f"/status/{job_id}")).json()["status"]) not in RP_TERMINAL:
            await asyncio.sleep(0.1)
        return status

    async def hundred_jobs(base_url: str) -> list[str]:
        headers = {"Authorization": f"Bearer {KEY}"}
        url = f"{base_url}/v2/wan-2-5"
        async with httpx.AsyncClient(base_url=url, headers=headers, verify=TLS, trust_env=False, timeout=10) as client:
            return await asyncio.gather(*(one_job(client) for _ in range(100)))

    with RunpodEmulator(api_key=KEY, queue_s=0.3, run_s=0.5) as emulator:
        started = time.monotonic()
        statuses = asyncio.run(hundred_jobs(emulator.base_url))
        elapsed = time.monotonic() - started

        assert statuses == ["COMPLETED"] * 100
        assert elapsed < 5
        assert (emulator.accepted_submits, len(emulator.jobs)) == (100, 100)
        assert emulator.status_polls >= 100  # every job was polled to its end
        assert emulator.internal_errors == []
