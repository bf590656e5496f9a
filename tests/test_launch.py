"""`python app.py` as a user runs it: serves, and a preview works with no key and no network."""

from __future__ import annotations

from gradio_client import Client, handle_file

from media.video import probe_video
from tests.app_process import app_process
from tests.helpers import make_photo


def test_python_app_py_serves_and_previews_offline(tmp_path):
    image = make_photo(tmp_path / "p.png", 800, 500)
    with app_process({}, work=tmp_path) as app:
        client = Client(app.url, verbose=False)
        _, video, params, _ = client.predict(
            image=handle_file(str(image)), prompt="pan left", duration=1, api_name="/generate"
        )
        client.close()
        assert params["provider"] == "preview" and params["state"] == "delivered"
        assert probe_video(video).video_codec == "h264"
    log = app.log()
    assert "Traceback" not in log


def test_share_failure_is_reported_plainly_and_serving_continues(tmp_path, monkeypatch, capsys):
    """Gradio returns no share URL when the tunnel cannot be made; we say so and keep serving."""
    import gradio as gr

    import app as app_module

    calls = {}

    def fake_launch(self, **kwargs):
        calls["launch"] = kwargs
        self.share_url = None
        self.local_url = f"http://{kwargs['server_name']}:{kwargs['server_port']}/"

    monkeypatch.setattr(gr.Blocks, "launch", fake_launch)
    monkeypatch.setattr(gr.Blocks, "block_thread", lambda self: calls.setdefault("blocked", True))
    monkeypatch.setenv("I2V_DATA_DIR", str(tmp_path))
    app_module.main(["--share", "--port", "7999", "--host", "127.0.0.1"])
    out = capsys.readouterr().out
    assert "No public share link could be created" in out and "http://127.0.0.1:7999/" in out
    assert calls["launch"]["share"] is True and calls["blocked"] is True
    hardening = calls["launch"]
    assert hardening["enable_monitoring"] is False and hardening["run_history"] is False
    assert hardening["show_error"] is False and hardening["ssr_mode"] is False and hardening["max_file_size"]


def test_port_and_host_flags_and_env_defaults(monkeypatch):
    import app as app_module

    monkeypatch.setenv("GRADIO_SERVER_PORT", "7123")
    monkeypatch.setenv("GRADIO_SERVER_NAME", "0.0.0.0")
    args = app_module.parse_args([])
    assert (args.port, args.host) == (7123, "0.0.0.0")
    args = app_module.parse_args(["--port", "8001", "--host", "127.0.0.1"])
    assert (args.port, args.host) == (8001, "127.0.0.1")
