"""Every case of the input-validation corpus through the public /generate API.

One app, two provider emulators and the corpus' URL servers per module. For every case the
emulators' request logs and the untrusted servers' connection counts are read before and after:
a refused input must cost no provider request, and no case may connect to a private address.
Refusals run against the paid runpod provider with a valid key (coretoday where the case is about
it), so a check that let an input through would show up as a submit. Accepted cases run on the
offline preview (1 s at 480p). The corpus itself is tests/corpus/make_corpus.py.
"""

from __future__ import annotations

import contextlib
import json
import string
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from gradio_client import handle_file

from tests.app_server import emulator_settings, running_app
from tests.corpus.make_corpus import Case, UrlFixtures, build_corpus, check_failures, corpus_cases, load_cases
from tests.emulators.coretoday import CoretodayEmulator
from tests.emulators.runpod import RunpodEmulator

KEY = "sk-CORPUS-3c1f9e07a2b84d6e"
CASES = corpus_cases()
# A refusal must not wait for anything slow (a URL body that never comes, say): well under the
# 20 s URL timeout.
MAX_REFUSAL_S = 10.0
# No case may hang the suite: a leaked paid job would otherwise wait on the provider.
CALL_TIMEOUT_S = 60.0
_RESULTS: dict[str, tuple[str, dict[str, Any]]] = {}


@pytest.fixture(scope="module")
def corpus_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("corpus")
    cases = build_corpus(out)
    assert [c.id for c in cases] == [c.id for c in CASES]
    return out


@pytest.fixture(scope="module")
def emulators():
    with RunpodEmulator(api_key=KEY) as rp, CoretodayEmulator(api_key=KEY) as ct:
        yield rp, ct


@pytest.fixture(scope="module")
def urls(corpus_dir, emulators):
    _, ct = emulators
    with UrlFixtures(corpus_dir, forward_to=ct.base_url) as fixtures:
        yield fixtures


@pytest.fixture(scope="module")
def app(emulators, urls, tmp_path_factory):
    rp, _ = emulators
    # The URL fixtures' origin is trusted only as an operator-configured provider origin;
    # it forwards every non-fixture path to the coretoday emulator.
    settings = emulator_settings(
        tmp_path_factory.mktemp("appdata"), runpod_url=rp.base_url, coretoday_url=urls.trusted_origin
    )
    with running_app(settings) as running:
        yield running


@pytest.fixture(scope="module")
def client(app):
    c = app.client(download_files=False)
    yield c
    c.close()


def _provider_requests(emulators) -> int:
    return sum(len(emulator.requests) for emulator in emulators)


def _fill(value: Any, corpus_dir: Path, names: dict[str, str]) -> Any:
    if isinstance(value, dict) and "file" in value:
        return handle_file(str(corpus_dir / value["file"]))
    if isinstance(value, str):
        return string.Template(value).safe_substitute(names)
    return value


def _resolved(case: Case, corpus_dir: Path, urls: UrlFixtures) -> tuple[dict[str, Any], Case]:
    names = urls.placeholders(KEY)
    kwargs = {k: _fill(v, corpus_dir, names) for k, v in case.kwargs.items()}
    checks = tuple(replace(c, value=_fill(c.value, corpus_dir, names)) for c in case.checks)
    return kwargs, replace(case, checks=checks)


def _message_problems(case: Case, message: str) -> list[str]:
    problems = []
    if case.field and not message.startswith(f"{case.field}:"):
        problems.append(f"does not start with '{case.field}:'")
    problems += [f"lacks {text!r}" for text in case.contains if text not in message]
    return problems


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_case(case: Case, client, emulators, urls, corpus_dir) -> None:
    kwargs, case = _resolved(case, corpus_dir, urls)
    requests_before = _provider_requests(emulators)
    started = time.monotonic()
    job = None
    try:
        job = client.submit(api_name="/generate", **kwargs)
        result, error = job.result(timeout=CALL_TIMEOUT_S), None
    except TimeoutError as exc:  # only if an input got through to a job that does not end
        with contextlib.suppress(Exception):  # best effort; the assertions below report the leak
            job.cancel()
        result, error = None, exc
    except Exception as exc:  # gradio_client raises AppError for gr.Error, others for upload refusals
        result, error = None, exc
    elapsed = time.monotonic() - started

    assert _provider_requests(emulators) == requests_before, f"{case.id} reached a provider emulator"
    assert urls.private_connections == 0, f"{case.id}: something connected to an untrusted private address"

    if case.outcome == "ok":
        assert error is None, f"{case.id} was refused: {error}"
        status, _video, params, _params_file = result
        _RESULTS[case.id] = (status, params)
        assert params["state"] == "delivered" and params["provider"] == "preview"
        assert not check_failures(case, params), check_failures(case, params)
        return

    assert error is not None, f"{case.id} was accepted: {result[2]['request'] if result else result}"
    assert elapsed < MAX_REFUSAL_S, f"{case.id} took {elapsed:.1f} s to be refused"
    message = str(error)
    problems = _message_problems(case, message)
    if case.known_gap:
        if problems:
            pytest.xfail(f"known gap: {case.known_gap} Got: {message!r}")
        pytest.fail(f"{case.id}: the known gap seems fixed (message {message!r}); remove known_gap from the case")
    assert not problems, f"{case.id}: message {message!r} {'; '.join(problems)}"


NOTED = [c for c in CASES if c.notes]


@pytest.mark.parametrize("case", NOTED, ids=[c.id for c in NOTED])
def test_preparation_notes_reach_the_user(case: Case) -> None:
    if case.id not in _RESULTS:
        pytest.skip("its test_case did not run or did not succeed")
    status, params = _RESULTS[case.id]
    shown = status + json.dumps(params, ensure_ascii=False)
    missing = [note for note in case.notes if note not in shown]
    assert not missing, f"not shown to the user: {missing}"


def test_app_still_answers_after_the_corpus(client, emulators, urls, corpus_dir) -> None:
    requests_before = _provider_requests(emulators)
    status, _video, params, _ = client.predict(
        image=handle_file(str(corpus_dir / "images" / "photo_640x480.png")),
        prompt="slow zoom in",
        provider="preview",
        resolution="480p",
        duration=1,
        seed=7,
        api_name="/generate",
    )
    assert params["state"] == "delivered" and "Done" in status
    assert _provider_requests(emulators) == requests_before
    assert urls.private_connections == 0
    assert len(CASES) >= 60


def test_manifest_round_trips(corpus_dir) -> None:
    assert load_cases(corpus_dir) == CASES
