"""Real clicks in Chromium against `python app.py`: a preview run, cancel, bad images, provider switching
and two visitors at once. One app process (preview + a Runpod emulator) serves the whole module."""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.app_process import AppProcess, app_process
from tests.emulators import RunpodEmulator
from tests.helpers import make_photo

pytestmark = pytest.mark.browser

KEY = "rpa_BROWSERFLOWS_4c1e9b0d7a52"
PREVIEW = re.compile(r"^(✓\s*)?Preview")
RUNPOD = re.compile(r"^(✓\s*)?Runpod")
CORETODAY = re.compile(r"^(✓\s*)?core\.today")
ALL_DURATIONS = [str(d) for d in range(1, 11)]
RESOLUTIONS = ["480p", "720p", "1080p"]

# Records each distinct first line the status area shows ("Queued · preview · 0.5 s"), in order.
RECORD_PHASES = """() => {
    const el = document.querySelector('#status');
    window.__phases = [];
    const note = () => {
        const line = el.innerText.trim().split('\\n')[0];
        if (line && window.__phases.at(-1) !== line) window.__phases.push(line);
    };
    new MutationObserver(note).observe(el, {subtree: true, childList: true, characterData: true});
}"""
VIDEO_READY = """() => {
    const v = document.querySelector('#video video');
    return v && v.readyState >= 2 && Number.isFinite(v.duration) ? [v.readyState, v.duration] : null;
}"""


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 15.0) -> None:
    """For conditions outside the page (emulator counters); page state uses expect()."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


@contextlib.contextmanager
def queue_time(emulator: RunpodEmulator, seconds: float) -> Iterator[None]:
    """Jobs submitted inside the block wait `seconds` in the emulator's queue."""
    before, emulator.queue_s = emulator.queue_s, seconds
    try:
        yield
    finally:
        emulator.queue_s = before


@pytest.fixture(scope="module")
def runpod() -> Iterator[RunpodEmulator]:
    with RunpodEmulator(api_key=KEY, queue_s=0.3, run_s=0.3) as emulator:
        yield emulator


@pytest.fixture(scope="module")
def app(runpod: RunpodEmulator, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppProcess]:
    env = {
        "I2V_PREVIEW_DELAY_S": "2",  # a preview job sits queued ~2 s, so its phases can be watched
        "RUNPOD_ENDPOINT_BASE_URL": f"{runpod.base_url}/v2",
        "CORETODAY_BASE_URL": "http://127.0.0.1:9/v1",  # only offered in the form here, never contacted
        "I2V_POLL_INITIAL_S": "0.1",
        "I2V_POLL_MAX_S": "0.3",
    }
    with app_process(env, work=tmp_path_factory.mktemp("browser-flows")) as running:
        yield running


def test_preview_run_shows_real_phases_plays_and_records_the_seed(app, open_studio, photo):
    ui = open_studio(app.url)
    ui.upload_image(photo)
    ui.fill("prompt", "slow zoom in on the checkerboard")
    ui.choose("duration", "2")
    expect(ui["duration"].locator("input")).to_have_value("2")
    expect(ui["price"]).to_contain_text("Free")
    ui.page.evaluate(RECORD_PHASES)

    ui.click("generate")
    expect(ui.status).to_contain_text(re.compile(r"Queued|Submitted"))
    expect(ui.status).to_contain_text("Done", timeout=30_000)
    phases = [line.split(" · ")[0].strip("* ") for line in ui.page.evaluate("window.__phases")]
    waiting = next(i for i, phase in enumerate(phases) if phase in ("Queued", "Submitted"))
    assert waiting < phases.index("Done"), phases
    assert phases[-1] == "Done", phases

    ready_state, duration = ui.page.wait_for_function(VIDEO_READY).json_value()
    assert ready_state >= 2
    assert abs(duration - 2) <= 0.3, duration
    ui["video"].get_by_label("play-pause-replay-button").click()
    ui.page.wait_for_function("() => document.querySelector('#video video').currentTime > 0.2")

    params = ui.params_text()
    seed = re.search(r'"seed":(-?\d+)', params)
    assert seed, params
    assert 0 <= int(seed[1]) <= 2_147_483_647  # -1 was turned into a concrete seed
    assert '"seed_was_random":true' in params
    assert '"duration_s":2' in params and '"state":"delivered"' in params
    job_id = re.search(r'"job_id":"([^"]+)"', params)[1]
    expect(ui.status).to_contain_text(job_id)
    expect(ui["params_file"]).to_contain_text("params.json")


def test_cancel_during_a_slow_runpod_job_is_sent_once_and_confirmed(app, runpod, open_studio, photo):
    ui = open_studio(app.url)
    ui.choose("provider", RUNPOD)
    ui.fill("api_key", KEY)
    ui.upload_image(photo)
    ui.fill("prompt", "waves rolling in")
    submits, cancels = runpod.submits, len(runpod.cancels)

    with queue_time(runpod, 30):
        ui.click("generate")
        wait_until(lambda: runpod.submits == submits + 1, "the emulator to receive the submit")
        job_id = runpod.requests_for("submit")[-1].job_id
        assert job_id
        ui.click("cancel")
        # Known app race (reported, not fixed here): in about 1 run in 15 the generator's stale
        # "Cancelling at runpod…" update lands after the Cancel handler's "Cancelled" and stays shown.
        expect(ui.status).to_contain_text("Cancelled")
        expect(ui.status).to_contain_text("confirmed")
        expect(ui.status).to_contain_text(job_id)

    assert runpod.cancels[cancels:] == [job_id]
    time.sleep(1)  # a second (duplicate) cancel request would arrive within this window
    assert runpod.cancels[cancels:] == [job_id]
    assert runpod.submits == submits + 1
    expect(ui["video"].locator("video")).to_have_count(0)


@pytest.fixture(scope="module")
def small_image(tmp_path_factory) -> Path:
    return make_photo(tmp_path_factory.mktemp("bad") / "small.png", 300, 300)


@pytest.fixture(scope="module")
def text_as_png(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("bad") / "bad.png"
    path.write_text("this is a text file, not a picture\n")
    return path


@pytest.mark.parametrize(
    ("bad_image", "words"),
    [
        ("small_image", ("image", "300×300", "360")),
        ("text_as_png", ("image", "not an image")),
    ],
)
def test_a_bad_image_is_refused_with_a_toast_that_names_the_problem(app, open_studio, request, bad_image, words):
    ui = open_studio(app.url)
    ui.fill("prompt", "zoom in")
    ui["image"].locator("input[type=file]").set_input_files(str(request.getfixturevalue(bad_image)))
    expect(ui["image_info"]).to_contain_text("⚠️", timeout=5_000)  # named before Generate
    ui.click("generate")
    toast = ui.toast.first
    expect(toast).to_be_visible(timeout=5_000)
    for word in words:
        expect(toast).to_contain_text(word)
    # No job was started.
    expect(ui.status).not_to_contain_text(re.compile(r"Job id|Queued|Submitted|Running|Done"))
    assert '"job_id"' not in ui.params_text()
    expect(ui["video"].locator("video")).to_have_count(0)


def test_switching_provider_offers_only_what_it_accepts(app, open_studio):
    ui = open_studio(app.url)
    expansion, safety = ui["prompt_expansion"].locator("input"), ui["safety_checker"].locator("input")

    expect(ui["provider"].locator("input")).to_have_value(PREVIEW)
    assert ui.options("duration") == ALL_DURATIONS
    assert ui.options("resolution") == RESOLUTIONS
    expect(ui["price"]).to_contain_text("Free")
    expect(ui["api_key"]).to_be_hidden()

    ui.choose("provider", CORETODAY)
    expect(ui["price"]).to_contain_text("credits")
    assert ui.options("duration") == ["5", "10"]
    assert ui.options("resolution") == RESOLUTIONS
    expect(expansion).to_be_checked()  # core.today's own default
    expect(safety).to_be_disabled()  # core.today has no switch
    expect(ui["api_key"]).to_be_visible()

    ui.choose("provider", RUNPOD)
    expect(ui["price"]).to_contain_text("$")
    expect(ui["price"]).not_to_contain_text("credits")
    assert ui.options("duration") == ALL_DURATIONS
    assert ui.options("resolution") == RESOLUTIONS
    expect(expansion).not_to_be_checked()
    expect(expansion).to_be_enabled()
    expect(safety).to_be_enabled()
    expect(safety).to_be_checked()

    # Price follows duration and resolution; a duration core.today refuses snaps to its default.
    ui.choose("duration", "3")
    ui.choose("resolution", "720p")
    expect(ui["price"]).to_contain_text("$0.30")
    ui.choose("provider", CORETODAY)
    expect(ui["duration"].locator("input")).to_have_value("5")
    expect(ui["price"]).to_contain_text("credits")
    expect(safety).to_be_disabled()
    expect(expansion).to_be_checked()

    ui.choose("provider", PREVIEW)
    expect(ui["price"]).to_contain_text("Free")
    assert ui.options("duration") == ALL_DURATIONS
    expect(ui["api_key"]).to_be_hidden()


def test_two_visitors_share_no_key_job_or_result(app, runpod, open_studio, photo):
    a, b = open_studio(app.url), open_studio(app.url)  # two browser contexts, both open throughout
    for ui in (a, b):
        ui.choose("provider", RUNPOD)
        ui.upload_image(photo)
        ui.fill("prompt", "a lighthouse, slow push in")
    a.fill("api_key", KEY)
    submits = runpod.submits

    with queue_time(runpod, 2.5):  # B acts while A's job is still in flight
        a.click("generate")
        wait_until(lambda: runpod.submits == submits + 1, "A's submit")
        job_id = runpod.requests_for("submit")[-1].job_id
        assert job_id
        b.click("generate")
        expect(b.toast.first).to_contain_text("needs an API key")
        expect(a.status).to_contain_text("Done", timeout=30_000)

    assert runpod.submits == submits + 1  # B's attempt reached no provider
    expect(a.status).to_contain_text(job_id)
    a_params = a.params_text()
    assert job_id in a_params
    studio_job_id = re.search(r'"studio_job_id":"([^"]+)"', a_params)[1]

    expect(b["api_key"].locator("input")).to_have_value("")
    b_texts = {
        "page text": b.page.locator("body").inner_text(),
        "page html": b.page.content(),
        "params panel": b["params"].inner_text(),
        "field values": "\n".join(b.field_values(skip=())),
    }
    for where, text in b_texts.items():
        for secret in (job_id, studio_job_id, KEY):
            assert secret not in text, f"A's {secret!r} shows in B's {where}"
    expect(b.status).not_to_contain_text("Done")
    history = b["history"]  # the job history panel, checked once it exists
    if history.count():
        if b["history_refresh"].count():
            b.click("history_refresh")
            b.page.wait_for_timeout(1000)  # a refresh that would wrongly list A's job has landed by now
        html = history.inner_html()  # thumbnails are named by job id, so look at attributes too
        for secret in (job_id, studio_job_id):
            expect(history).not_to_contain_text(secret)
            assert secret not in html, f"A's {secret!r} shows in B's history"
