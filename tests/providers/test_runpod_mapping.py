"""Runpod wan-2-5 request mapping and status parsing (providers.md §1)."""

from __future__ import annotations

import base64

import pytest

from errors import ProtocolError
from jobs.models import JobState, Orientation, Resolution
from providers.runpod import build_input, parse_status, runpod_size
from tests.helpers import make_request, stub_audio, stub_image


@pytest.mark.parametrize(
    ("orientation", "tier", "size"),
    [
        (Orientation.LANDSCAPE, Resolution.P480, "854*480"),
        (Orientation.LANDSCAPE, Resolution.P720, "1280*720"),
        (Orientation.LANDSCAPE, Resolution.P1080, "1920*1080"),
        (Orientation.PORTRAIT, Resolution.P720, "720*1280"),
        (Orientation.PORTRAIT, Resolution.P1080, "1080*1920"),
        (Orientation.SQUARE, Resolution.P720, "720*720"),
    ],
)
def test_size_follows_tier_and_orientation(orientation, tier, size):
    assert runpod_size(orientation, tier) == size


def test_golden_input_matches_documented_fields_and_types(tmp_path):
    request = make_request(tmp_path)
    body = build_input(request)
    image_bytes = request.image.path.read_bytes()
    assert body == {
        "prompt": "a lighthouse in a storm, slow push in",
        "image": "data:image/jpeg;base64," + base64.b64encode(image_bytes).decode(),
        "negative_prompt": "blurry",
        "size": "1280*720",
        "duration": 5,
        "seed": 1234,
        "enable_prompt_expansion": False,
        "enable_safety_checker": True,
    }
    assert type(body["duration"]) is int and type(body["seed"]) is int


def test_portrait_image_swaps_size(tmp_path):
    request = make_request(tmp_path, image=stub_image(tmp_path, 720, 1280))
    assert build_input(request)["size"] == "720*1280"


def test_url_image_is_passed_by_url(tmp_path):
    request = make_request(tmp_path, image=stub_image(tmp_path, source_url="https://example.com/a.jpg"))
    assert build_input(request)["image"] == "https://example.com/a.jpg"


def test_record_form_references_media_by_hash_not_bytes(tmp_path):
    request = make_request(tmp_path, audio=stub_audio(tmp_path))
    recorded = build_input(request, for_record=True)
    assert request.image.sha256 in recorded["image"]
    assert request.audio.sha256 in recorded["audio"]
    assert "base64,…" in recorded["image"]
    sent = build_input(request)
    assert sent["audio"].startswith("data:audio/wav;base64,")


@pytest.mark.parametrize(
    ("raw", "state"),
    [
        ("IN_QUEUE", JobState.QUEUED),
        ("IN_PROGRESS", JobState.RUNNING),
        ("RUNNING", JobState.RUNNING),
        ("CANCELLED", JobState.CANCELLED),
        ("SOMETHING_NEW", JobState.UNKNOWN),
    ],
)
def test_status_mapping(raw, state):
    assert parse_status({"id": "x", "status": raw}).state is state


@pytest.mark.parametrize("key", ["video_url", "result"])
def test_completed_reads_either_documented_output_key(key):
    status = parse_status(
        {
            "id": "x",
            "status": "COMPLETED",
            "delayTime": 27,
            "executionTime": 78901,
            "output": {key: "https://video.runpod.ai/abc/output.mp4", "cost": 0.5},
        }
    )
    assert status.state is JobState.SUCCEEDED
    assert status.video_url == "https://video.runpod.ai/abc/output.mp4"
    assert status.cost_usd == 0.5 and status.queue_ms == 27 and status.run_ms == 78901


def test_completed_with_string_output_and_without_url():
    assert parse_status({"status": "COMPLETED", "output": "https://x/v.mp4"}).video_url == "https://x/v.mp4"
    missing = parse_status({"status": "COMPLETED", "output": {"cost": 0.5}})
    assert missing.state is JobState.FAILED and "video URL" in missing.error


def test_failed_and_timed_out_keep_the_reason():
    assert parse_status({"status": "FAILED", "error": "Invalid image URL"}).error == "Invalid image URL"
    assert parse_status({"status": "TIMED_OUT"}).state is JobState.TIMED_OUT


@pytest.mark.parametrize("body", [None, [], {"id": "x"}, {"status": 3}])
def test_malformed_status_is_a_protocol_error(body):
    with pytest.raises(ProtocolError):
        parse_status(body)
