"""Shared bits for the studio's tests: start `python ui/app.py` or a real worker as subprocesses,
drive Debian's chromium through Playwright, and read what a page received.

Every wait here is bounded; every server binds 127.0.0.1; subprocesses get their own process
group so a kill also reaches the children they fork (the RunPod SDK forks a heartbeat).
"""

from __future__ import annotations

import contextlib
import io
import sys
import time
import urllib.request
from collections.abc import Iterator

from tests.conftest import REPO, worker_env
from tests.helpers_loopback import PLANTED_KEY  # noqa: F401 (one planted key for every leak check)
from tests.helpers_process import (  # noqa: F401
    Process,
    free_port,
    polling_worker,
    spawn,
    stop,
    wait_for_worker,
    wait_until,
)

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = REPO / "test-artifacts"


@contextlib.contextmanager
def running_app(startup_s: float = 120.0, **env: str) -> Iterator[Process]:
    """`python ui/app.py` on a free port with the stand-in weights; yields it once the page answers."""
    port = free_port()
    full_env = worker_env(GRADIO_SERVER_NAME="127.0.0.1", GRADIO_SERVER_PORT=str(port),
                          GRADIO_ANALYTICS_ENABLED="False", KOKORO_MODELS="v1.0", **env)
    app = spawn([sys.executable, str(REPO / "ui" / "app.py")], full_env, "studio")
    app.url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + startup_s
        while True:
            if app.proc.poll() is not None:
                raise RuntimeError(f"the studio exited with {app.proc.returncode}:\n{app.log()[-3000:]}")
            try:
                with urllib.request.urlopen(app.url, timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the studio did not answer within {startup_s} s:\n{app.log()[-3000:]}")
            time.sleep(0.25)
        yield app
    finally:
        stop(app)


@contextlib.contextmanager
def running_worker(cloud, startup_s: float = 180.0, wait: bool = True, **env: str) -> Iterator[Process]:
    """The real `python worker/handler.py` under RunPod's worker loop, polling the loopback cloud.

    wait=False yields at once (start something else meanwhile, then call `wait_for_worker`)."""
    yield from polling_worker(cloud, [sys.executable, str(REPO / "worker" / "handler.py")],
                              worker_env(KOKORO_MODELS="v1.0", **env), "worker", startup_s, wait)


def sound_info(data: bytes):
    """soundfile's view of an audio file's bytes (format, samplerate, frames)."""
    import soundfile as sf

    return sf.info(io.BytesIO(data))


class ResponseLog:
    """Every response body a page receives (for leak checks), captured as it arrives."""

    def __init__(self, page):
        self.bodies: list[tuple[str, bytes]] = []
        page.on("response", self._record)

    def _record(self, response) -> None:
        try:
            body = response.body()
        except Exception:  # noqa: BLE001 (streams, redirects and aborted requests have no body)
            body = b""
        self.bodies.append((response.url, body))

    def containing(self, needle: str) -> list[str]:
        raw = needle.encode()
        return [url for url, body in self.bodies if raw in body or needle in url]


def open_options(page, label: str) -> list[str]:
    """The option texts of a dropdown, opened as a person would; closed again with blur()."""
    box = page.get_by_role("combobox", name=label)
    box.click()
    options = page.get_by_role("option")
    options.first.wait_for(timeout=10_000)
    # The selected option carries a "✓" line before its label.
    texts = [t.strip().splitlines()[-1].strip() for t in options.all_inner_texts()]
    close(page, box)
    return texts


def close(page, box) -> None:
    """Blur a dropdown and wait until its list is gone (a busy page can take a moment, and a list
    still open would mix its options into the next dropdown's)."""
    box.blur()
    page.get_by_role("option").first.wait_for(state="detached", timeout=10_000)


def choose(page, label: str, option_text: str) -> None:
    """Pick a dropdown option by its visible text."""
    box = page.get_by_role("combobox", name=label)
    box.click()
    if box.is_editable():  # typing filters, so options beyond the first 100 are reachable too
        box.fill(option_text)
    page.get_by_role("option", name=option_text, exact=False).first.click()
    close(page, box)


def status_text(page) -> str:
    return page.locator("#status").inner_text()


def studio_page(browser, url: str, width: int = 1280, height: int = 1000):
    """(context, page) on the studio at `url` in a fresh browser context (its own local storage:
    another visitor), downloads accepted, 30 s per step."""
    context = browser.new_context(viewport={"width": width, "height": height}, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(30_000)
    page.goto(url)
    return context, page
