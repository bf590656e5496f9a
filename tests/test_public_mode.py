"""Public mode: server keys are not lent unless opted in; quotas; hardened endpoints (issue 5)."""

from __future__ import annotations

import httpx
import pytest
from gradio_client import Client, handle_file

from tests.app_process import app_process
from tests.emulators.runpod import RunpodEmulator
from tests.helpers import make_photo

SERVER_KEY = "rpa_SERVERKEY0123456789abcdefXYZ"


@pytest.fixture(scope="module")
def runpod():
    with RunpodEmulator(api_key=SERVER_KEY, queue_s=0.1, run_s=0.1) as emulator:
        yield emulator


@pytest.fixture(scope="module")
def image(tmp_path_factory):
    return make_photo(tmp_path_factory.mktemp("img") / "p.png", 640, 400)


def _run(client: Client, image, **kwargs):
    return client.predict(
        image=handle_file(str(image)), prompt="waves", provider="runpod", duration=5, api_name="/generate", **kwargs
    )


def test_public_mode_does_not_lend_the_server_key(tmp_path, runpod, image):
    env = {"RUNPOD_API_KEY": SERVER_KEY, "RUNPOD_ENDPOINT_BASE_URL": f"{runpod.base_url}/v2", "I2V_PUBLIC": "1"}
    before = len(runpod.requests)
    with app_process(env, work=tmp_path) as app:
        client = Client(app.url, verbose=False)
        with pytest.raises(Exception, match="does not lend its own runpod key"):
            _run(client, image)
        assert len(runpod.requests) == before  # no request reached the provider
        page = httpx.get(app.url).text + httpx.get(f"{app.url}/config").text
        assert SERVER_KEY not in page
        assert "Public app" in httpx.get(f"{app.url}/config").text  # the banner
        client.close()
    assert SERVER_KEY not in app.log()


def test_shared_key_quota_refuses_the_third_job(tmp_path, runpod, image):
    env = {
        "RUNPOD_API_KEY": SERVER_KEY,
        "RUNPOD_ENDPOINT_BASE_URL": f"{runpod.base_url}/v2",
        "SPACE_ID": "someone/wan-i2v-studio",
        "I2V_SHARED_KEYS": "1",
        "I2V_QUOTA_JOBS_PER_DAY": "2",
    }
    with app_process(env, work=tmp_path) as app:
        client = Client(app.url, verbose=False)
        submits = runpod.submits
        for _ in range(2):
            assert _run(client, image)[2]["key_source"] == "server"
        with pytest.raises(Exception, match="Daily quota reached: 2 runs per visitor per day"):
            _run(client, image)
        assert runpod.submits == submits + 2
        # A visitor's own key is not limited by the shared-key quota.
        assert _run(client, image, api_key=SERVER_KEY)[2]["key_source"] == "visitor"
        client.close()


def test_monitoring_is_off_and_uploads_are_capped(tmp_path):
    with app_process({}, work=tmp_path) as app:
        assert httpx.get(f"{app.url}/monitoring/summary").status_code in (403, 404)
        big = b"\0" * (21 * 1024 * 1024)
        response = httpx.post(f"{app.url}/gradio_api/upload", files={"files": ("big.png", big, "image/png")})
        assert response.status_code == 413
        small = httpx.post(f"{app.url}/gradio_api/upload", files={"files": ("ok.png", b"\0" * 1024, "image/png")})
        assert small.status_code == 200


def test_basic_auth_protects_everything(tmp_path):
    with app_process({"I2V_AUTH": "alice:s3cret-pass"}, work=tmp_path) as app:
        assert httpx.get(f"{app.url}/config").status_code == 401
        assert httpx.post(f"{app.url}/gradio_api/upload", files={"files": ("a", b"x")}).status_code == 401
        client = Client(app.url, verbose=False, auth=("alice", "s3cret-pass"))
        assert "/generate" in client.view_api(return_format="dict")["named_endpoints"]
        client.close()
