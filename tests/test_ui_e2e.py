"""End to end: studio (RunPod backend) -> loopback RunPod cloud -> the REAL worker process -> audio.

`python worker/handler.py` runs under the RunPod SDK's own worker loop with the stand-in weights
(KOKORO_MODELS=v1.0 to start faster), taking jobs from `loopback.cloud.LoopbackCloud`. Once through
the callbacks directly, once through the page in chromium.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import srt as srt_parser

from loopback.cloud import LoopbackCloud
from tests.ui_helpers import (
    PLANTED_KEY,
    ResponseLog,
    choose,
    running_app,
    running_worker,
    sound_info,
    status_text,
    wait_for_worker,
    wait_until,
)
from ui.backends import RunPodBackend
from ui.backends.runpod_client import RunPodClient
from ui.tabs.generate import OUTPUTS, Studio
from worker.service.request import FIELDS

ENDPOINT = "ep-e2e"


@pytest.fixture(scope="module")
def stack(standin_hf_home):
    """(cloud, worker, app): the worker warms up while the app starts."""
    with LoopbackCloud(api_key=PLANTED_KEY, endpoint_id=ENDPOINT, poll_hold_s=0.5) as cloud:
        with running_worker(cloud, wait=False) as worker:
            with running_app(RUNPOD_ENDPOINT_ID=ENDPOINT, RUNPOD_API_KEY=PLANTED_KEY,
                             RUNPOD_API_BASE=cloud.url) as app:
                wait_for_worker(cloud, worker)
                yield cloud, worker, app


def out(step: tuple, name: str):
    return step[OUTPUTS.index(name)]


def test_callbacks_through_loopback_and_the_real_worker(stack, catalog, tmp_path):
    cloud, worker, _ = stack

    def client() -> RunPodClient:
        return RunPodClient(ENDPOINT, PLANTED_KEY, api_base=cloud.url, timeout_s=120.0, poll_interval_s=0.2)

    # stream=True, as RUNPOD_STREAM's default: a worker that does not stream still gives its file
    studio = Studio(RunPodBackend(client, catalog, stream=True), catalog, out_dir=tmp_path)
    before = len(cloud.jobs())
    steps = list(studio.generate("Hello there. A second sentence.", "en-us", "am_michael", 1.1, True, "wav"))

    jobs = cloud.jobs()[before:]
    assert len(jobs) == 1 and jobs[0]["status"] == "COMPLETED"
    sent = cloud.job(jobs[0]["id"])["input"]
    assert sent == {"text": "Hello there. A second sentence.", "voice": "am_michael", "language": "en-us",
                    "speed": 1.1, "split_sentences": True, "format": "wav", "timestamps": True}
    assert out(steps[-1], "audio")  # nothing streamed: the player gets the whole file
    assert set(sent) <= set(FIELDS)  # the worker's contract
    # The words came back from the worker: the page's captions and its SRT and VTT files
    assert "A second sentence." in out(steps[-1], "captions")
    subtitles = sorted(Path(p).suffix for p in out(steps[-1], "caption_files")["value"])
    assert subtitles == [".srt", ".vtt"]
    statuses = " ".join(str(out(s, "status")) for s in steps)
    assert re.search(r"In (queue|progress)[^<]* · \d+ s", statuses), statuses
    files = [out(s, "file") for s in steps if isinstance(out(s, "file"), dict) and out(s, "file").get("value")]
    path = files[-1]["value"]
    assert re.search(r"/en-us_am_michael_\d{8}-\d{6}\.wav$", path)
    info = sound_info(open(path, "rb").read())
    assert info.format == "WAV" and info.samplerate == 24000 and info.duration > 0.5
    assert out(steps[-1], "audio") == open(path, "rb").read()  # the player gets the worker's file
    assert "RunPod job took" in out(steps[-1], "details") and "2 chunks" in out(steps[-1], "details")
    assert len(out(steps[-1], "phonemes").splitlines()) == 2
    assert PLANTED_KEY not in worker.log()


@pytest.mark.browser
def test_page_through_loopback_and_the_real_worker(stack, browser):
    cloud, _, app = stack
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        page = context.new_page()
        page.set_default_timeout(30_000)
        responses = ResponseLog(page)
        page.goto(app.url)
        assert "RunPod Serverless" in page.locator("#backend").inner_text()
        choose(page, "Output format", "mp3")
        page.get_by_label("Text").fill("Through the cloud and back. It works.")
        before = len(cloud.jobs())
        page.get_by_role("button", name="Generate").click()
        link = page.locator("#download a[data-testid=download-link]")
        link.wait_for(timeout=180_000)
        assert re.match(r"^en-us_af_heart_\d{8}-\d{6}\.mp3$", link.get_attribute("download"))
        info = sound_info(page.request.get(link.get_attribute("href")).body())
        assert info.format == "MP3" and info.samplerate == 24000 and info.duration > 0.5
        assert page.locator("#player audio[src]").count() == 1
        wait_until(lambda: page.locator("#player audio").evaluate("a => a.currentTime > 0 || a.ended"),
                   30, "the audio to play")
        assert "Done" in status_text(page)
        assert "RunPod job took" in page.locator("#details").inner_text()
        # the words the worker timed: a transcript on the page, SRT and WebVTT to download
        cues = page.get_by_role("table", name="Captions").inner_text()
        assert "Through the cloud and back." in cues and "It works." in cues
        srt_href = page.locator("#caption-files a[download$='.srt']").get_attribute("href")
        parsed = list(srt_parser.parse(page.request.get(srt_href).text()))
        assert " ".join(c.content for c in parsed).split() == "Through the cloud and back. It works.".split()
        jobs = cloud.jobs()[before:]
        assert [j["status"] for j in jobs] == ["COMPLETED"]
        assert cloud.job(jobs[0]["id"])["input"]["format"] == "mp3"  # the format chosen, never a bigger one
        assert responses.containing(PLANTED_KEY) == [] and len(responses.bodies) > 10
        assert PLANTED_KEY not in page.content()
        assert PLANTED_KEY not in app.log()
    finally:
        context.close()
