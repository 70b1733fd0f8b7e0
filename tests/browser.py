"""Running the app for browser tests: a real `streamlit run` on a free port, driven by chromium."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
VIEWPORT = {"width": 1400, "height": 1000}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def running_app(extra_env: dict | None = None, script: str = "dashboard.py"):
    """Yields the base URL of a fresh app server; stops it afterwards."""
    with running_server(extra_env, script) as (base_url, _):
        yield base_url


@contextlib.contextmanager
def running_server(extra_env: dict | None = None, script: str = "dashboard.py"):
    """Yields (base URL, server process) of a fresh server of `script` (a path from the project's root);
    stops it afterwards."""
    port = free_port()
    env = {**os.environ, **(extra_env or {})}
    command = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        script,
        "--server.port",
        str(port),
        "--server.address",
        "127.0.0.1",
        "--server.headless",
        "true",
    ]
    server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        _wait_healthy(port, server)
        yield f"http://127.0.0.1:{port}", server
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()


def _wait_healthy(port: int, server: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"streamlit exited: {server.stdout.read().decode(errors='replace')}")
        with contextlib.suppress(OSError):
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as response:
                if response.read().strip() == b"ok":
                    return
        time.sleep(0.3)
    raise TimeoutError("the app did not become healthy")


@contextlib.contextmanager
def launched_browser():
    """Headless chromium (Debian's), closed afterwards."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@contextlib.contextmanager
def browser_page():
    """A chromium page that records every request it makes."""
    with launched_browser() as browser:
        page = browser.new_page(viewport=VIEWPORT)
        page.requested_urls = []
        page.on("request", lambda request: page.requested_urls.append(request.url))
        yield page


def wait_for_app(page, timeout_ms: int = 60_000) -> None:
    """Waits until the script run has finished and the page holds content."""
    page.wait_for_selector("[data-testid='stApp']", timeout=timeout_ms)
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')"
        " && document.querySelectorAll('[data-testid=\"stHeading\"], h1').length > 0",
        timeout=timeout_ms,
    )
