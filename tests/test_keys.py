"""Keys: "Test key" answers valid/invalid without a job; a restarted job continues with its owner's key."""

from __future__ import annotations

import asyncio

from jobs.engine import JobEngine
from jobs.models import JobState
from jobs.store import JobStore
from media.images import prepare_image
from settings import Settings
from tests.emulators.coretoday import CoretodayEmulator
from tests.emulators.runpod import RunpodEmulator
from tests.helpers import make_photo, make_request
from ui.handlers import Studio

KEY = "rpa_KEYTESTS0123456789abcdefXYZ"


def _settings(tmp_path, runpod=None, coretoday=None) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        runpod_base_url=f"{runpod.base_url}/v2" if runpod else "http://127.0.0.1:9/v2",
        coretoday_base_url=f"{coretoday.base_url}/v1" if coretoday else "http://127.0.0.1:9/v1",
        poll_initial_s=0.05,
        poll_max_s=0.2,
    )


async def test_test_key_reports_valid_and_invalid_without_a_job(tmp_path):
    with RunpodEmulator(api_key=KEY) as runpod, CoretodayEmulator(api_key=KEY) as coretoday:
        engine = JobEngine(_settings(tmp_path, runpod, coretoday), JobStore(tmp_path / "jobs.sqlite3"))
        studio = Studio(engine)
        try:
            answers = [
                await studio.test_key("runpod", KEY),
                await studio.test_key("runpod", "wrong-key"),
                await studio.test_key("coretoday", KEY),
                await studio.test_key("coretoday", "wrong-key"),
                await studio.test_key("preview", ""),
                await studio.test_key("runpod", ""),
            ]
            expected = ["accepted", "refused", "accepted", "refused", "needs no key", "Paste"]
            assert [word in answer for word, answer in zip(expected, answers, strict=True)] == [True] * 6, answers
        finally:
            await engine.aclose()
        assert runpod.submits == 0 and coretoday.submits == 0


async def test_a_restarted_session_key_job_continues_when_its_owner_supplies_the_key(tmp_path):
    photo = prepare_image(make_photo(tmp_path / "p.png"), out_dir=tmp_path / "inputs")
    with RunpodEmulator(api_key=KEY, queue_s=0.5, run_s=0.3) as runpod:
        settings = _settings(tmp_path, runpod)
        first = JobEngine(settings, JobStore(settings.data_dir / "jobs.sqlite3"))
        job_id = await first.start(
            make_request(tmp_path, image=photo), api_key=KEY, owner="token:o", key_source="visitor"
        )
        while first.snapshot(job_id).provider_job_id is None:
            await asyncio.sleep(0.02)
        await first.aclose()  # the server goes away; the session key goes with it
        first.store.close()

        second = JobEngine(settings, JobStore(settings.data_dir / "jobs.sqlite3"))
        try:
            second.resume_all()
            await asyncio.sleep(0.1)
            assert second.snapshot(job_id).state is JobState.NEEDS_KEY
            stranger = await second.supply_key(job_id, "token:someone-else", KEY)
            owner = await second.supply_key(job_id, "token:o", KEY)
            assert (stranger, owner) == (False, True)  # only the owner can continue it
            record = await second.wait(job_id)
        finally:
            await second.aclose()
    assert record.state is JobState.DELIVERED, record.message
    assert runpod.submits == 1
    assert KEY not in record.to_json()
