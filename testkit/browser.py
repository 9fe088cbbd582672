"""A real headless Chromium (Debian's `chromium`, driven through its `chromedriver` with
Selenium), for the dashboard's tests. Every call runs in a thread, so that the bot and the
fakes, on the test's event loop, keep answering the browser meanwhile."""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Final

CHROMIUM: Final = ("/usr/bin/chromium", "/usr/lib/chromium/chromium")
CHROMEDRIVER: Final = ("/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver")
# Chromium reaches for Google's services at start; this machine's network refuses them.
QUIET: Final = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--autoplay-policy=no-user-gesture-required",
)


def _found(paths: tuple[str, ...], name: str) -> str | None:
    return next((p for p in paths if Path(p).is_file()), None) or shutil.which(name)


def unavailable() -> str | None:
    """Why no browser test can run here (None: they can)."""
    if _found(CHROMIUM, "chromium") is None:
        return "Chromium is not installed (apt-get install chromium chromium-driver)"
    if _found(CHROMEDRIVER, "chromedriver") is None:
        return "ChromeDriver is not installed (apt-get install chromium-driver)"
    return None


class Browser:
    def __init__(self, width: int = 1280, height: int = 900) -> None:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        os.environ.setdefault("SE_AVOID_STATS", "true")
        self._profile = tempfile.mkdtemp(prefix="hailuo-chromium-")
        options = webdriver.ChromeOptions()
        options.binary_location = str(_found(CHROMIUM, "chromium"))
        for flag in QUIET:
            options.add_argument(flag)
        options.add_argument(f"--user-data-dir={self._profile}")
        options.add_argument(f"--window-size={width},{height}")
        service = Service(executable_path=str(_found(CHROMEDRIVER, "chromedriver")))
        self.driver = webdriver.Chrome(options=options, service=service)
        self.driver.set_page_load_timeout(30)

    async def quit(self) -> None:
        await asyncio.to_thread(self.driver.quit)
        shutil.rmtree(self._profile, ignore_errors=True)

    async def get(self, url: str) -> None:
        await asyncio.to_thread(self.driver.get, url)

    async def click(self, css: str) -> None:
        from selenium.webdriver.common.by import By

        await asyncio.to_thread(lambda: self.driver.find_element(By.CSS_SELECTOR, css).click())

    async def fill(self, css: str, text: str) -> None:
        from selenium.webdriver.common.by import By

        def typed() -> None:
            field = self.driver.find_element(By.CSS_SELECTOR, css)
            field.clear()
            field.send_keys(text)

        await asyncio.to_thread(typed)

    async def text(self, css: str = "body") -> str:
        from selenium.webdriver.common.by import By

        return str(
            await asyncio.to_thread(lambda: self.driver.find_element(By.CSS_SELECTOR, css).text)
        )

    async def count(self, css: str) -> int:
        from selenium.webdriver.common.by import By

        return len(await asyncio.to_thread(self.driver.find_elements, By.CSS_SELECTOR, css))

    async def run(self, script: str, *arguments: Any) -> Any:
        """JavaScript in the page (WebDriver's own, not bound by the page's CSP)."""
        return await asyncio.to_thread(self.driver.execute_script, script, *arguments)

    async def forget(self) -> None:
        """Every cookie gone, as for a new person at the same browser."""
        await asyncio.to_thread(self.driver.delete_all_cookies)

    @staticmethod
    def cookie_header(cookies: list[dict[str, Any]]) -> str:
        """The `Cookie` header the browser itself sends for these cookies: each value exactly
        as it was set, quotes included."""
        return "; ".join(f"{c['name']}={c['value']}" for c in cookies)

    async def status(
        self, url: str, *, data: dict[str, str] | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str]]:
        """A request outside the page (whose content policy allows it no fetch), carrying the
        browser's cookies: its status and headers. With `data`, a form POST."""
        import aiohttp

        sent = {"Cookie": self.cookie_header(await asyncio.to_thread(self.driver.get_cookies))}
        sent.update(headers or {})
        # No cookie jar: a jar (or `cookies=`) would quote a value the browser keeps quoted
        # (base64 padding) a second time, and the server would see another cookie.
        async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as session:
            method = session.post if data is not None else session.get
            async with method(url, data=data, headers=sent, allow_redirects=False) as answer:
                await answer.read()
                return answer.status, dict(answer.headers)

    async def url(self) -> str:
        return str(await asyncio.to_thread(lambda: self.driver.current_url))

    async def wait_for(self, script: str, within: float = 10.0) -> Any:
        """Until the script returns something true; that value."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            value = await self.run(script)
            if value:
                return value
            if loop.time() > deadline:
                raise TimeoutError(f"never true in the page: {script}")
            await asyncio.sleep(0.1)

    async def screenshot(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        await asyncio.to_thread(self.driver.save_screenshot, str(path))
