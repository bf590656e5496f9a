"""Durable jobs in a real browser: a reload reattaches to the running job; an MP4 restores the form."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import expect

from media.video import frame_hashes
from tests.app_process import AppProcess, app_process
from tests.emulators import RunpodEmulator

pytestmark = pytest.mark.browser

KEY = "rpa_BROWSERDURABLE_9d2c61f0ab"


@pytest.fixture(scope="module")
def runpod() -> Iterator[RunpodEmulator]:
    with RunpodEmulator(api_key=KEY, queue_s=6.0, run_s=1.0) as emulator:
        yield emulator


@pytest.fixture(scope="module")
def app(runpod: RunpodEmulator, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppProcess]:
    env = {"RUNPOD_ENDPOINT_BASE_URL": f"{runpod.base_url}/v2", "I2V_POLL_MAX_S": "0.5"}
    with app_process(env, work=tmp_path_factory.mktemp("durable-ui")) as running:
        yield running


def _wait(condition, what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _video_file(app: AppProcess, page, dest: Path) -> Path:
    src = page.locator("#video video").get_attribute("src")
    url = src if src.startswith("http") else f"{app.url}{src}"
    dest.write_bytes(httpx.get(url).content)
    return dest


def test_reload_reattaches_to_the_running_job(app, runpod, open_studio, photo):
    ui = open_studio(app.url)
    ui.choose("provider", re.compile(r"^(✓\s*)?Runpod"))
    ui["api_key"].locator("input").fill(KEY)
    ui.upload_image(photo)
    ui.fill("prompt", "waves rolling in")
    submits = runpod.submits
    ui.click("generate")
    _wait(lambda: runpod.submits == submits + 1, "the submit")
    job_id = runpod.requests_for("submit")[-1].job_id
    expect(ui.status).to_contain_text(job_id)

    ui.page.reload()  # same browser, same owner token: the running job comes back
    expect(ui.status).to_contain_text(job_id, timeout=10_000)
    expect(ui.status).to_contain_text(re.compile("Queued|Running"))
    expect(ui.status).to_contain_text("Done", timeout=30_000)
    assert runpod.submits == submits + 1  # reattached, never run again


def test_an_mp4_dropped_into_load_settings_restores_the_form_and_the_frames(app, open_studio, photo, tmp_path):
    first = open_studio(app.url)
    first.upload_image(photo)
    first.fill("prompt", "slow orbit around the tower")
    first["seed"].locator("input").fill("4242")
    first.choose("duration", "2")
    first.click("generate")
    expect(first.status).to_contain_text("Done", timeout=60_000)
    original = _video_file(app, first.page, tmp_path / "original.mp4")

    second = open_studio(app.url)  # another visitor with just the file
    second.page.get_by_text("Load settings from a video or params.json").click()
    second.page.locator("#load_settings input[type=file]").set_input_files(str(original))
    expect(second["load_note"]).to_contain_text("Loaded settings", timeout=10_000)
    expect(second["prompt"].locator("textarea")).to_have_value("slow orbit around the tower")
    expect(second["seed"].locator("input")).to_have_value("4242")
    expect(second["duration"].locator("input")).to_have_value("2")
    expect(second["image_info"]).to_contain_text("Prepared image", timeout=10_000)
    second.click("generate")
    expect(second.status).to_contain_text("Done", timeout=60_000)
    again = _video_file(app, second.page, tmp_path / "again.mp4")
    assert frame_hashes(again) == frame_hashes(original)
