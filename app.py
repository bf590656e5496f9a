"""Wan I2V Studio: wire settings, ledger, engine and UI together, then serve."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # before gradio is imported: no phoning home

from jobs.engine import JobEngine
from jobs.store import JobStore
from settings import Settings
from ui.handlers import Studio
from ui.layout import CSS, build_app

QUEUE_MAX_SIZE = 512
MAX_THREADS = 400  # also caps concurrently running events (gradio6.md §2.3)
MAX_UPLOAD = "20mb"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Wan I2V Studio")
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", "7860")))
    parser.add_argument("--share", action="store_true", help="ask Gradio for a public share link (public mode)")
    parser.add_argument("--public", action="store_true", help="public mode: server keys are not lent to visitors")
    return parser.parse_args(argv)


def create_app(settings: Settings | None = None):
    """Build the Blocks app and its engine (used by tests and by main)."""
    settings = settings or Settings.from_env()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    settings.videos_dir.mkdir(parents=True, exist_ok=True)
    store = JobStore(settings.data_dir / "jobs.sqlite3")
    engine = JobEngine(settings, store)
    demo = build_app(Studio(engine))
    demo.queue(max_size=QUEUE_MAX_SIZE, default_concurrency_limit=8)
    return demo, engine


def basic_auth() -> list[tuple[str, str]] | None:
    """I2V_AUTH="user:pass" (comma-separated for several users) turns on Gradio's login page."""
    value = os.environ.get("I2V_AUTH", "").strip()
    if not value:
        return None
    pairs = [item.split(":", 1) for item in value.split(",") if ":" in item]
    return [(user.strip(), password) for user, password in pairs if user.strip() and password]


def launch_kwargs(settings: Settings, engine: JobEngine) -> dict:
    """Hardened launch settings (gradio6.md §8; docs/SECURITY.md) and the engine's lifespan."""
    return {
        "app_kwargs": {"lifespan": engine.lifespan},
        "auth": basic_auth(),
        "max_threads": MAX_THREADS,
        "max_file_size": MAX_UPLOAD,
        "css": CSS,
        "enable_monitoring": False,
        "run_history": False,
        "show_error": False,
        "ssr_mode": False,
        "allowed_paths": [str(settings.videos_dir)],
    }


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = parse_args(argv)
    settings = Settings.from_env()
    if args.share or args.public:
        settings = dataclasses.replace(settings, public=True)
    demo, engine = create_app(settings)
    demo.launch(
        server_name=args.host,
        server_port=args.port,
        share=args.share,
        prevent_thread_lock=True,
        **launch_kwargs(settings, engine),
    )
    if args.share and not demo.share_url:
        print(
            "No public share link could be created (this machine may be offline, or the tunnel "
            f"service refused). The app keeps serving locally at {demo.local_url}",
            flush=True,
        )
    demo.block_thread()


if __name__ == "__main__":
    main()
