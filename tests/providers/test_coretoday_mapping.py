"""core.today wan-video/wan-2.5-i2v mapping and both documented response shapes (providers.md §2)."""

from __future__ import annotations

import pytest

from errors import ProtocolError
from jobs.models import JobState
from providers.coretoday import build_input, parse_status
from tests.helpers import make_request, stub_image


def test_golden_input_for_upload_route(tmp_path):
    body = build_input(make_request(tmp_path, provider="coretoday"))
    assert body == {
        "prompt": "a lighthouse in a storm, slow push in",
        "duration": 5,
        "resolution": "720p",
        "negative_prompt": "blurry",
        "seed": 1234,
        "enable_prompt_expansion": False,
    }
    assert "image" not in body  # travels as the multipart part file:image
    assert "enable_safety_checker" not in body  # not in core.today's contract


def test_url_image_goes_in_the_json(tmp_path):
    request = make_request(tmp_path, provider="coretoday", image=stub_image(tmp_path, source_url="https://e.com/a.png"))
    assert build_input(request)["image"] == "https://e.com/a.png"


@pytest.mark.parametrize(
    ("raw", "state"),
    [
        ("pending", JobState.QUEUED),
        ("processing", JobState.RUNNING),
        ("cancelled", JobState.CANCELLED),
        ("canceled", JobState.CANCELLED),
        ("mystery", JobState.UNKNOWN),
    ],
)
def test_status_mapping(raw, state):
    assert parse_status({"job_id": "j", "status": raw}).state is state


def test_job_id_shape_result_string():
    status = parse_status({"job_id": "j", "status": "completed", "result": "https://cdn/x.mp4", "public_url": None})
    assert status.state is JobState.SUCCEEDED and status.video_url == "https://cdn/x.mp4"


def test_job_id_shape_result_list():
    assert parse_status({"job_id": "j", "status": "completed", "result": ["https://cdn/y.mp4"]}).video_url == (
        "https://cdn/y.mp4"
    )


def test_id_shape_output_list_with_metrics():
    status = parse_status(
        {
            "id": "p",
            "status": "succeeded",
            "output": ["https://cdn/z.mp4"],
            "metrics": {"queue_time": 1.5, "run_time": 60.25, "total_time": 61.75},
        }
    )
    assert status.video_url == "https://cdn/z.mp4"
    assert status.queue_ms == 1500 and status.run_ms == 60250


def test_failed_keeps_error_and_missing_url_fails():
    assert parse_status({"job_id": "j", "status": "failed", "error": "NSFW"}).error == "NSFW"
    assert parse_status({"job_id": "j", "status": "completed", "result": None}).state is JobState.FAILED


def test_malformed():
    with pytest.raises(ProtocolError):
        parse_status({"job_id": "j"})
