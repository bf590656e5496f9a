"""Browser fixtures: one Chromium per test module, a fresh context per page, and a small page object.

Playwright drives Debian's Chromium (`playwright install` cannot download a browser here; scripts/test.sh
installs `chromium` with apt-get). The sync API is used from plain `def` tests, so no asyncio loop is
running when Playwright starts its own.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Locator, Page, expect, sync_playwright

from tests.helpers import make_photo

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# No background traffic: the machine has no network besides 127.0.0.1.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
TIMEOUT_MS = 15_000

expect.set_options(timeout=TIMEOUT_MS)


class StudioPage:
    """The app as a visitor sees it: controls by elem_id (ui/layout.py), reads of what is on screen."""

    def __init__(self, page: Page) -> None:
        self.page = page

    @property
    def context(self) -> BrowserContext:
        return self.page.context

    def __getitem__(self, elem_id: str) -> Locator:
        return self.page.locator(f"#{elem_id}")

    @property
    def status(self) -> Locator:
        return self["status"]

    @property
    def toast(self) -> Locator:
        """Error toasts (gr.Error)."""
        return self.page.get_by_test_id("toast-body")

    @property
    def options_list(self) -> Locator:
        """The options of the dropdown that is open (Gradio renders only the open one's)."""
        return self.page.get_by_role("option")

    def choose(self, elem_id: str, option: str | re.Pattern[str]) -> None:
        """Open a dropdown and click one option, by its visible text (exact) or a pattern."""
        self[elem_id].locator("input").click()
        name = option if isinstance(option, re.Pattern) else re.compile(rf"^(✓\s*)?{re.escape(option)}$")
        self.options_list.filter(has_text=name).first.click()
        expect(self.options_list).to_have_count(0)

    def options(self, elem_id: str) -> list[str]:
        """Open a dropdown, read the options it offers, close it again."""
        self[elem_id].locator("input").click()
        expect(self.options_list.first).to_be_visible()
        texts = [text.replace("✓", "").strip() for text in self.options_list.all_inner_texts()]
        self.page.keyboard.press("Escape")
        expect(self.options_list).to_have_count(0)
        return texts

    def upload_image(self, path: Path, *, info: str | re.Pattern[str] = "Prepared image") -> None:
        """Upload through the file input and wait until the app has checked the image."""
        self["image"].locator("input[type=file]").set_input_files(str(path))
        expect(self["image_info"]).to_contain_text(info)

    def fill(self, elem_id: str, text: str) -> None:
        self[elem_id].locator("textarea, input").first.fill(text)

    def click(self, elem_id: str) -> None:
        self[elem_id].click()

    def params_text(self) -> str:
        """The params panel's text without whitespace (gr.JSON puts every token on its own line)."""
        return re.sub(r"\s+", "", self["params"].inner_text())

    def storage(self) -> str:
        return self.page.evaluate("JSON.stringify(localStorage)") + self.page.evaluate("JSON.stringify(sessionStorage)")

    def field_values(self, *, skip: tuple[str, ...] = ("api_key",)) -> list[str]:
        """The live values of every input and textarea (not in page.content()), except the key field."""
        return self.page.evaluate(
            """(skip) => Array.from(document.querySelectorAll('input, textarea'))
                .filter((el) => !skip.some((id) => el.closest('#' + id)))
                .map((el) => el.value)""",
            list(skip),
        )


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}; scripts/test.sh installs it (apt-get install chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def open_studio(browser: Browser) -> Iterator[Callable[..., StudioPage]]:
    """open_studio(url) opens the app in a new browser context (a separate visitor); closed after the test."""
    contexts: list[BrowserContext] = []

    def open_(url: str) -> StudioPage:
        context = browser.new_context()
        contexts.append(context)
        page = context.new_page()
        page.goto(url)
        expect(page.locator("#generate")).to_be_visible()
        return StudioPage(page)

    yield open_
    for context in contexts:
        context.close()


@pytest.fixture(scope="session")
def photo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_photo(tmp_path_factory.mktemp("browser-img") / "photo.png", 900, 600)
