"""Real-browser tests: Debian Chromium driven by Playwright against `python app.py` subprocesses."""
