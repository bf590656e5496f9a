"""Leak scan: a sentinel key goes through every way a key can enter the app (the form in a real browser,
the API argument, the X-API-Key header, Test key) and through its success, failure and cancel paths.
Then everything the app logged, wrote, served, returned or left in the browsers is searched for it.

The emulator legitimately receives the key (Authorization header) and is not scanned; it is used to
prove the key really travelled through the app, so that finding nothing means something.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from gradio_client import Client, handle_file
from playwright.sync_api import expect

from tests.app_process import app_process
from tests.emulators import RunpodEmulator

pytestmark = pytest.mark.browser

SENTINEL = "sk-LEAKSCAN-" + secrets.token_hex(16)
# Refused by the emulator (401). It contains the sentinel, so every place it is echoed counts as a leak.
WRONG_KEY = "old-" + SENTINEL + "-revoked"
RUNPOD = re.compile(r"^(✓\s*)?Runpod")


def wait_until(condition: Callable[[], object], what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


def find_sentinel(corpus: dict[str, bytes]) -> list[str]:
    """Where the sentinel occurs, with a little context (the sentinel itself masked)."""
    needle = SENTINEL.encode()
    hits = []
    for where, data in corpus.items():
        at = data.find(needle)
        if at >= 0:
            context = data[max(at - 80, 0) : at + len(needle) + 40].replace(needle, b"<SENTINEL>")
            hits.append(f"{where}: {context!r}")
    return hits


def files_under(root: Path) -> dict[str, bytes]:
    return {f"file {path}": path.read_bytes() for path in sorted(root.rglob("*")) if path.is_file()}


def job_corpus(label: str, job) -> dict[str, bytes]:
    """Every output the job streamed, plus the content of any file it handed back (params.json)."""
    outputs = job.outputs()
    corpus = {f"{label} outputs": json.dumps(outputs, default=str).encode()}
    for output in outputs:
        for value in output if isinstance(output, tuple | list) else (output,):
            if isinstance(value, str) and os.path.isfile(value):  # False, not an error, for non-paths
                corpus[f"{label} returned file {Path(value).name}"] = Path(value).read_bytes()
    return corpus


def test_the_key_leaks_nowhere(tmp_path, open_studio, photo):
    assert find_sentinel({"control": b"x" + WRONG_KEY.encode()}), "the scanner itself must work"
    corpus: dict[str, bytes] = {}
    console: list[str] = []
    with RunpodEmulator(api_key=SENTINEL, queue_s=0.3, run_s=0.3) as runpod:
        env = {
            "RUNPOD_ENDPOINT_BASE_URL": f"{runpod.base_url}/v2",
            "I2V_POLL_INITIAL_S": "0.1",
            "I2V_POLL_MAX_S": "0.3",
            # The app's temp files land in the scanned tree too. (Its data dir must stay under its temp
            # dir: Gradio refuses to serve the prepared-image preview from anywhere else.)
            "TMPDIR": str(tmp_path),
        }
        with app_process(env, work=tmp_path) as app:
            # (a) The form, in browser context A: run a job to Done, then Test key.
            a = open_studio(app.url)
            a.page.on("console", lambda message: console.append(message.text))
            a.choose("provider", RUNPOD)
            a.fill("api_key", SENTINEL)
            a.upload_image(photo)
            a.fill("prompt", "waves rolling in, slow pan left")
            a.click("generate")
            expect(a.status).to_contain_text("Done", timeout=30_000)
            assert '"key_source":"visitor"' in a.params_text()
            a.click("test_key")
            expect(a["key_status"]).to_contain_text("accepted")

            # (c) A refused key in browser context B: the run fails (401), Test key says refused.
            b = open_studio(app.url)
            b.page.on("console", lambda message: console.append(message.text))
            b.choose("provider", RUNPOD)
            b.fill("api_key", WRONG_KEY)
            b.upload_image(photo)
            b.fill("prompt", "waves rolling in")
            b.click("generate")
            expect(b.toast.first).to_contain_text("401", timeout=30_000)
            corpus["B error toast"] = b.toast.first.inner_text().encode()
            b.click("test_key")
            expect(b["key_status"]).to_contain_text("refused")

            # (b) The API: key as an argument, and key in an X-API-Key header.
            image = handle_file(str(photo))
            run = dict(image=image, prompt="waves", provider="runpod", duration=5, api_name="/generate")
            plain = Client(app.url, verbose=False)
            header = Client(app.url, verbose=False, headers={"X-API-Key": SENTINEL})
            for label, job in (
                ("API api_key", plain.submit(**run, api_key=SENTINEL)),
                ("API X-API-Key", header.submit(**run)),
            ):
                assert job.result(timeout=60)[2]["key_source"] == "visitor", label
                corpus |= job_corpus(label, job)

            # (c) Error paths through the API: a refused key, a job the provider fails, a cancel.
            failures = [("API refused key", plain.submit(**run, api_key=WRONG_KEY))]
            runpod.next_outcomes.append("fail")
            failures.append(("API provider failure", plain.submit(**run, api_key=SENTINEL)))
            for label, job in failures:
                with pytest.raises(Exception) as refused:
                    job.result(timeout=60)
                corpus[f"{label} exception"] = repr(refused.value).encode()
                corpus |= job_corpus(label, job)
            runpod.queue_s = 30
            submits, cancels = runpod.submits, len(runpod.cancels)
            job = header.submit(**run)
            wait_until(lambda: runpod.submits == submits + 1 and job.outputs(), "the API job's submit")
            job.cancel()
            wait_until(lambda: len(runpod.cancels) == cancels + 1, "the provider cancel")
            corpus |= job_corpus("API cancelled", job)
            plain.close()
            header.close()

            # What the app serves, and what the two browsers show and keep.
            for path in ("/", "/config", "/gradio_api/info"):
                response = httpx.get(app.url + path)
                assert response.status_code == 200, path
                corpus[f"GET {path}"] = response.content
            for name, ui in (("A", a), ("B", b)):
                corpus[f"{name} page html"] = ui.page.content().encode()
                corpus[f"{name} page text"] = ui.page.locator("body").inner_text().encode()
                corpus[f"{name} field values (key field excluded)"] = json.dumps(ui.field_values()).encode()
                corpus[f"{name} localStorage+sessionStorage"] = ui.storage().encode()
                corpus[f"{name} cookies"] = json.dumps(ui.context.cookies()).encode()
            corpus["browser consoles"] = "\n".join(console).encode()

        # The key really went through the app to the provider, so finding nothing below means something.
        sent_with = {
            key: [r for r in runpod.requests if r.headers.get("authorization") == f"Bearer {key}"]
            for key in (SENTINEL, WRONG_KEY)
        }
        routes = [r.route for r in sent_with[SENTINEL]]
        assert routes.count("submit") == 5  # A's form run, api_key, X-API-Key, provider failure, cancelled
        assert routes.count("cancel") == 1
        assert routes.count("status") > 5  # polls, and A's key check
        refused = [r.route for r in sent_with[WRONG_KEY]]
        assert sorted(refused) == ["status", "submit", "submit"]  # B's key check, B's run, the API run
        assert {r.status for r in sent_with[WRONG_KEY]} == {401}

    # After the app exited: its log, and every file it wrote (data dir, Gradio cache, temp dir).
    corpus["app log"] = app.log().encode()
    corpus |= files_under(tmp_path)
    assert any("jobs.sqlite3" in where for where in corpus)
    assert any("/gradio/" in where for where in corpus)

    hits = find_sentinel(corpus)
    assert not hits, f"the key leaked into {len(hits)} of {len(corpus)} places:\n" + "\n".join(hits)
