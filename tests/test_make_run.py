"""The README's first command on a fresh machine: `make run` starts the dashboard with no terminal input,
never asks anything, prints the one address to open, and listens on this machine only."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from tests.browser import free_port
from tests.conftest import ROOT

START_TIMEOUT = 90  # seconds: the server answers in a few; a busy 2-core machine may take longer
READY_MARKER = ".venv/.requirements-installed"

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


def _fresh_machine_env(home: Path) -> dict:
    """This environment with a HOME Streamlit has never run in, no STREAMLIT_* settings, and pip kept offline."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("STREAMLIT_")}
    return {**env, "HOME": str(home), "PIP_NO_INDEX": "1"}


@contextlib.contextmanager
def make_run(port: int, home: Path, log: Path):
    """`make run PORT=port` in its own process group, no input, output to `log`; the whole group is killed afterwards.

    `-o` keeps the existing virtualenv as it is (`make test` has just set it up) so nothing is downloaded
    when a checkout left requirements.txt newer than the marker."""
    command = ["make", "-o", READY_MARKER, "run", f"PORT={port}"]
    with log.open("wb") as out:
        server = subprocess.Popen(
            command,
            cwd=ROOT,
            env=_fresh_machine_env(home),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield server
    finally:
        _stop_group(server)


def _stop_group(server: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(server.pid, signal.SIGTERM)
    try:
        server.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait(timeout=10)
    with contextlib.suppress(ProcessLookupError):  # streamlit itself, should make have gone first
        os.killpg(server.pid, signal.SIGKILL)


def _healthy(url: str) -> bool:
    with contextlib.suppress(OSError):
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
            return response.read().strip() == b"ok"
    return False


def _wait_for(condition, server: subprocess.Popen, log: Path, what: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if condition():
            return
        if server.poll() is not None:
            pytest.fail(f"make run exited with {server.returncode} before {what}:\n{log.read_text(errors='replace')}")
        time.sleep(0.3)
    pytest.fail(f"no {what} within {START_TIMEOUT} s:\n{log.read_text(errors='replace')}")


def _address_of_this_machine_beyond_loopback() -> str | None:
    """This machine's address on its default route (no packet is sent), or None without a network."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # a documentation address: only the route is looked up
            address = probe.getsockname()[0]
        except OSError:
            return None
    return None if address.startswith("127.") or address == "0.0.0.0" else address


def _refused(address: str, port: int) -> bool:
    try:
        socket.create_connection((address, port), timeout=2).close()
    except ConnectionRefusedError:
        return True
    except OSError:  # unreachable or filtered: not served either
        return True
    return False


def test_make_run_starts_without_input_and_serves_this_machine_only(tmp_path):
    port, log = free_port(), tmp_path / "make-run.log"
    local_url = f"http://127.0.0.1:{port}"
    home = tmp_path / "home"
    home.mkdir()
    with make_run(port, home, log) as server:
        _wait_for(lambda: _healthy(local_url), server, log, "answer from /_stcore/health")
        _wait_for(lambda: "URL:" in log.read_text(errors="replace"), server, log, "address printed")
        printed = log.read_text(errors="replace")
        assert re.findall(r"URL: (\S+)", printed) == [local_url]
        assert "Network URL" not in printed and "External URL" not in printed
        assert "Email" not in printed and "Welcome to Streamlit" not in printed
        other = _address_of_this_machine_beyond_loopback()
        if other is not None:
            assert _refused(other, port), f"the app answers on {other}:{port}"
        assert server.poll() is None
