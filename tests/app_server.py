"""Launch the real app in-process for gradio_client tests, pointed at emulators."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator
from dataclasses import dataclass

from gradio_client import Client

from app import create_app, launch_kwargs
from settings import Settings


def emulator_settings(data_dir, *, runpod_url: str | None = None, coretoday_url: str | None = None) -> Settings:
    """App settings for tests: providers pointed at emulators (or a closed port), fast polling."""
    return Settings(
        data_dir=data_dir,
        runpod_base_url=f"{runpod_url or 'http://127.0.0.1:9'}/v2",
        coretoday_base_url=f"{coretoday_url or 'http://127.0.0.1:9'}/v1",
        poll_initial_s=0.1,
        poll_max_s=0.3,
        job_timeout_s=60,
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class RunningApp:
    url: str
    settings: Settings
    engine: object

    def client(self, **kwargs) -> Client:
        return Client(self.url, verbose=False, **kwargs)


@contextlib.contextmanager
def running_app(settings: Settings) -> Iterator[RunningApp]:
    demo, engine = create_app(settings)
    port = free_port()
    demo.launch(
        server_name="127.0.0.1",
        server_port=port,
        prevent_thread_lock=True,
        quiet=True,
        **launch_kwargs(settings, engine),
    )
    try:
        yield RunningApp(f"http://127.0.0.1:{port}", settings, engine)
    finally:
        demo.close()
