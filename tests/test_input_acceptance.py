"""Input acceptance checks that do reach a provider: what the Runpod emulator actually receives.

* A 6000×4000 photo arrives at ≤2000 px on its longest side, ≤10 MB, the right way up (also when
  the phone stored it sideways with an EXIF orientation); a 300×300 image is refused with 360 px.
* A 45 s m4a with audio_start 10 and duration 5 arrives as wav or mp3 holding seconds 10–15.
* Image URLs at 169.254.169.254, or redirecting to loopback, are refused without any connection to
  the private address: every socket connect in this process is recorded while the app handles them.

Inputs come from tests/corpus/make_corpus.py's builders; the decoded bodies are the emulator's log.
"""

from __future__ import annotations

import base64
import io
import socket
import urllib.request

import av
import numpy as np
import pytest
from gradio_client import handle_file
from PIL import Image

from settings import Settings
from tests.app_server import running_app
from tests.corpus.make_corpus import UrlFixtures, build_corpus, marked_photo, step_freq, stepped_tone, write_audio
from tests.emulators.coretoday import CoretodayEmulator
from tests.emulators.runpod import RunpodEmulator

KEY = "sk-ACCEPT-5e2d8b19c4a7403f"
MB = 1024 * 1024
RATE = 44_100


@pytest.fixture(scope="module")
def corpus_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("corpus")
    build_corpus(out)
    return out


@pytest.fixture(scope="module")
def emulators():
    with (
        RunpodEmulator(api_key=KEY, queue_s=0.1, run_s=0.1) as rp,
        CoretodayEmulator(api_key=KEY, queue_s=0.1, run_s=0.1) as ct,
    ):
        yield rp, ct


@pytest.fixture(scope="module")
def urls(corpus_dir, emulators):
    _, ct = emulators
    with UrlFixtures(corpus_dir, forward_to=ct.base_url) as fixtures:
        yield fixtures


@pytest.fixture(scope="module")
def client(emulators, urls, tmp_path_factory):
    rp, _ = emulators
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("appdata"),
        runpod_base_url=f"{rp.base_url}/v2",
        coretoday_base_url=f"{urls.trusted_origin}/v1",  # trusted origin for the redirect fixture
        poll_initial_s=0.1,
        poll_max_s=0.3,
        job_timeout_s=60,
    )
    with running_app(settings) as app:
        c = app.client(download_files=False)
        yield c
        c.close()


def _requests(emulators) -> int:
    return sum(len(e.requests) for e in emulators)


def _decode_data_uri(uri: str) -> tuple[str, bytes]:
    header, _, payload = uri.partition(",")
    assert header.startswith("data:") and header.endswith(";base64"), header[:60]
    return header.removeprefix("data:").removesuffix(";base64"), base64.b64decode(payload, validate=True)


def _submitted_input(rp: RunpodEmulator) -> dict:
    return rp.requests_for("submit")[-1].body["input"]


def _runpod(client, **kwargs):
    call = {"prompt": "slow zoom in", "provider": "runpod", "resolution": "480p", "duration": 5, "seed": 11}
    call.update(kwargs)
    return client.predict(api_key=KEY, api_name="/generate", **call)


def _is(pixel, rgb, tolerance: int = 40) -> bool:
    return all(abs(int(a) - b) <= tolerance for a, b in zip(pixel, rgb, strict=True))


def _assert_upright_markers(image: Image.Image) -> None:
    """marked_photo puts red in the top-left corner and green in the top-right one."""
    rgb = image.convert("RGB")
    inset = min(rgb.size) // 40
    assert _is(rgb.getpixel((inset, inset)), (255, 0, 0)), rgb.getpixel((inset, inset))
    assert _is(rgb.getpixel((rgb.width - 1 - inset, inset)), (0, 255, 0)), rgb.getpixel((rgb.width - 1 - inset, inset))
    bottom_left = rgb.getpixel((inset, rgb.height - 1 - inset))
    assert not _is(bottom_left, (255, 0, 0)) and not _is(bottom_left, (0, 255, 0)), bottom_left


# --- images -------------------------------------------------------------------------------------


def test_6000x4000_photo_arrives_at_2000px_under_10mb_upright(client, emulators, tmp_path):
    rp, _ = emulators
    source = tmp_path / "photo_6000x4000.jpg"
    marked_photo(6000, 4000, detail=8.0).save(source, "JPEG", quality=90)
    submits = rp.submits

    _, _, params, _ = _runpod(client, image=handle_file(str(source)))

    assert rp.submits == submits + 1
    body = _submitted_input(rp)
    mime, data = _decode_data_uri(body["image"])
    delivered = Image.open(io.BytesIO(data))
    assert mime in ("image/jpeg", "image/png") and delivered.format in ("JPEG", "PNG")
    assert delivered.size == (2000, 1333)
    assert len(data) <= 10 * MB
    assert body["size"] == "854*480"  # landscape at 480p
    _assert_upright_markers(delivered)
    assert params["request"]["image"]["width"] == 2000 and params["request"]["image"]["bytes"] == len(data)


def test_sideways_phone_photo_arrives_upright(client, emulators, tmp_path):
    """A 6000×4000 JPEG whose EXIF orientation 6 says: turn 90° clockwise to view (a portrait)."""
    rp, _ = emulators
    upright = marked_photo(4000, 6000, detail=8.0)
    exif = Image.Exif()
    exif[0x0112] = 6
    source = tmp_path / "phone_6000x4000_orientation6.jpg"
    upright.transpose(Image.Transpose.ROTATE_90).save(source, "JPEG", quality=90, exif=exif.tobytes())
    assert Image.open(source).size == (6000, 4000)

    _runpod(client, image=handle_file(str(source)))

    body = _submitted_input(rp)
    _, data = _decode_data_uri(body["image"])
    delivered = Image.open(io.BytesIO(data))
    assert delivered.size == (1333, 2000)
    assert len(data) <= 10 * MB
    assert body["size"] == "480*854"  # portrait at 480p
    _assert_upright_markers(delivered)
    assert delivered.getexif().get(0x0112, 1) == 1  # no orientation tag left to rotate it again


def test_300x300_is_refused_with_the_360px_minimum(client, emulators, tmp_path):
    source = tmp_path / "300x300.png"
    marked_photo(300, 300).save(source, "PNG")
    before = _requests(emulators)
    with pytest.raises(Exception) as refused:
        _runpod(client, image=handle_file(str(source)))
    message = str(refused.value)
    assert message.startswith("image:") and "300×300" in message and "at least 360 px" in message
    assert _requests(emulators) == before


# --- audio --------------------------------------------------------------------------------------


def _decode_audio(data: bytes) -> tuple[np.ndarray, int]:
    """Mono float samples and rate of a wav or mp3 (PyAV reads either from memory)."""
    chunks, rate, resampler = [], 0, None
    with av.open(io.BytesIO(data)) as container:
        for frame in container.decode(audio=0):
            if resampler is None:
                rate = frame.sample_rate
                resampler = av.AudioResampler(format="s16", layout="mono", rate=rate)
            chunks += [f.to_ndarray().reshape(-1) for f in resampler.resample(frame)]
        chunks += [f.to_ndarray().reshape(-1) for f in resampler.resample(None)]
    return np.concatenate(chunks).astype(np.float64), rate


def _dominant_hz(samples: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(samples.size)))
    return float(np.fft.rfftfreq(samples.size, 1 / rate)[spectrum.argmax()])


def test_45s_m4a_from_10s_for_5s_arrives_as_seconds_10_to_15(client, emulators, tmp_path):
    rp, _ = emulators
    source_samples = stepped_tone(45, RATE, 2)  # second k is a sine at 200 + 50·k Hz
    source = write_audio(tmp_path / "voice_45s.m4a", source_samples, fmt="ipod", codec="aac", rate=RATE)

    _, _, params, _ = _runpod(
        client, image=handle_file(str(_photo(tmp_path))), audio=handle_file(str(source)), audio_start=10, duration=5
    )

    mime, data = _decode_data_uri(_submitted_input(rp)["audio"])
    assert mime in ("audio/wav", "audio/x-wav", "audio/mpeg")
    got, rate = _decode_audio(data)
    assert rate == RATE
    assert got.size / rate == pytest.approx(5.0, abs=0.01)
    # Each second of the delivered clip carries the frequency of source second 10 + k.
    for k in range(5):
        window = got[round((k + 0.1) * rate) : round((k + 0.9) * rate)]
        assert _dominant_hz(window, rate) == pytest.approx(step_freq(10 + k), abs=3), f"second {k}"
    # And it lines up with the source samples: the best match of the delivered clip within
    # ±50 ms of 10.000 s is at 10.000 s (AAC is lossy, so correlate rather than compare).
    reference = source_samples[:, 0].astype(np.float64)
    search = round(0.05 * rate)
    lags = range(-search, search + 1)
    probe = got[: 2 * rate]
    scores = [float(np.dot(probe, reference[10 * rate + lag : 10 * rate + lag + probe.size])) for lag in lags]
    best = lags[int(np.argmax(scores))]
    assert abs(best) <= round(0.002 * rate), f"delivered audio starts {best / rate * 1000:.1f} ms off 10 s"
    correlation = np.corrcoef(got[: 5 * rate], reference[10 * rate : 15 * rate])[0, 1]
    assert correlation > 0.99
    audio = params["request"]["audio"]
    assert audio["start_s"] == 10 and audio["duration_s"] == 5 and audio["source_duration_s"] == pytest.approx(45, 0.01)


def _photo(tmp_path):
    path = tmp_path / "photo.png"
    if not path.exists():
        marked_photo(640, 480).save(path, "PNG")
    return path


# --- URLs ---------------------------------------------------------------------------------------


@pytest.fixture
def connects(monkeypatch):
    """Every address a socket of this process (app included) tries to connect to."""
    seen: list = []
    real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex

    def connect(self, address):
        seen.append(address)
        return real_connect(self, address)

    def connect_ex(self, address):
        seen.append(address)
        return real_connect_ex(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    return seen


def _refused(client, url: str) -> str:
    with pytest.raises(Exception) as refused:
        _runpod(client, image=None, image_url=url)
    return str(refused.value)


@pytest.mark.parametrize("url", ["http://169.254.169.254/", "http://169.254.169.254/latest/meta-data/iam/"])
def test_metadata_address_is_refused_without_connecting(client, emulators, connects, url):
    before = _requests(emulators)
    message = _refused(client, url)
    assert message.startswith("image:") and "169.254.169.254" in message and "private" in message
    assert not [a for a in connects if isinstance(a, tuple) and a[0] == "169.254.169.254"], connects
    assert _requests(emulators) == before


def test_redirect_to_loopback_is_refused_without_connecting(client, emulators, urls, connects):
    before = _requests(emulators)
    private_ports = {urls.private.port, urls.private6.port}
    for route in ("redirect-private", "redirect-private6"):
        message = _refused(client, f"{urls.trusted_origin}/corpus/{route}")
        assert message.startswith("image:") and "private" in message, message
        assert f"/corpus/{route}" in urls.trusted.paths  # the redirect itself was fetched
    for url in (f"http://127.0.0.1:{urls.private.port}/x.png", f"http://localhost:{urls.private.port}/x.png"):
        assert "private" in _refused(client, url)
    assert not [a for a in connects if isinstance(a, tuple) and a[1] in private_ports], connects
    assert ("127.0.0.1", urls.trusted.port) in connects  # the recorder does see the app's own connects
    assert urls.private_connections == 0
    assert _requests(emulators) == before
    # Control: the private servers do count a connection when one is actually made.
    urllib.request.urlopen(f"http://127.0.0.1:{urls.private.port}/x.png", timeout=5).read()
    assert urls.private_connections == 1
    urls.private.connections = 0
