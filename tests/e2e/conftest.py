"""The browser the e2e tests drive: Debian's chromium (deploy/local/install-deps.sh) through Playwright."""

from __future__ import annotations

import os
import shutil

import pytest
from playwright.async_api import async_playwright

# --lang: the browser's own words (file pickers, date inputs) in Chinese, as on the district's phones and desks.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--lang=zh-CN"]


@pytest.fixture(scope="module")
async def browser():
    executable = shutil.which("chromium")  # Debian's /usr/bin/chromium; Playwright's own builds are not used
    if executable is None:
        pytest.fail("chromium is missing: run deploy/local/install-deps.sh")
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=executable,
            args=CHROMIUM_ARGS,
            env={**os.environ, "LANGUAGE": "zh_CN", "LANG": "zh_CN.UTF-8"},
        )
        yield chromium
        await chromium.close()
