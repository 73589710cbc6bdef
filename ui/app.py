"""Kokoro voice studio: the Gradio page. It builds the shared pieces (backend, clip maker, A/B desk,
auditioner) and renders one module per tab (ui/tabs/); the handlers live with their tab.

Run: `python ui/app.py` (GRADIO_SERVER_NAME / GRADIO_SERVER_PORT as usual). It is also the
Hugging Face Spaces app_file. Synthesis runs on RunPod when RUNPOD_ENDPOINT_ID is set (or
KOKORO_BACKEND=runpod), else locally on this machine's GPU or CPU; the page says which.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as `python ui/app.py`

import gradio as gr  # noqa: E402

from ui.api import Blocks, ListeningDesk, build_api  # noqa: E402
from ui.backends import backend_from_env  # noqa: E402
from ui.ffmpeg_path import ensure_ffmpeg  # noqa: E402
from ui.studio.clips import ClipMaker  # noqa: E402
from ui.studio.votes import VoteStore  # noqa: E402
from ui.tabs import ab, audition, generate, history, leaderboard, rater, tests  # noqa: E402
from ui.tabs.ab import ABDesk  # noqa: E402
from ui.tabs.audition import Auditioner  # noqa: E402
from ui.tabs.generate import Studio  # noqa: E402
from ui.tabs.pronunciations import Pronouncer  # noqa: E402
from ui.tabs.rater import RaterDesk  # noqa: E402
from ui.tabs.tests import TestDesk  # noqa: E402
from ui.theme import CSS, HEAD, THEME  # noqa: E402
from worker.core import background, settings, startup  # noqa: E402
from worker.core.catalog import Catalog  # noqa: E402
from worker.core.errors import SettingsError  # noqa: E402
from worker.text import lexicon  # noqa: E402

log = logging.getLogger("kokoro.ui")

TITLE = "Kokoro Voice Studio"
DEFAULT_LANGUAGE = "en-us"

ABOUT = """\
**About the voices.** Grades (A best … F) are the ones published with Kokoro. Ungraded: the
Chinese-focused v1.1-zh release (which also reads English) and the Spanish and Portuguese voices,
whose grades were never published. Generate plays as it synthesizes and downloads in the format
you chose; A/B and Audition compare finished clips.
"""


def build(studio: Studio, catalog: Catalog, banner: str, concurrency: int = 1,
          desk: ABDesk | None = None, auditioner: Auditioner | None = None) -> gr.Blocks:
    """The page: a hero, the backend banner, and the tabs."""
    ensure_ffmpeg()  # the streaming player's encoder
    language = DEFAULT_LANGUAGE if DEFAULT_LANGUAGE in catalog.languages else next(iter(catalog.languages))
    clips = ClipMaker(studio.backend, catalog)
    desk = desk or ABDesk(clips, catalog, out_dir=studio.out_dir)
    auditioner = auditioner or Auditioner(clips, catalog, out_dir=studio.out_dir)
    # delete_cache: Gradio's copies of downloads and streams go after two hours, checked hourly.
    with Blocks(title=TITLE, delete_cache=(3600, 7200)) as demo:
        gr.HTML(f"<div id='hero'><h1>{TITLE}</h1><p>Natural speech from text in nine languages and "
                f"{len(catalog.voices)} voices, with the open-weight Kokoro-82M model.</p></div>")
        with gr.Column(elem_id="studio-view") as studio_view:  # hidden on a rater's page (`?test=`)
            gr.Markdown(banner, elem_id="backend")
            past = gr.State([])  # this session's history (ui/studio/history.py)
            pronunciations = gr.State({})  # this session's {language: {word: phonemes}}
            with gr.Tabs() as tabs:
                with gr.Tab("Generate", id="generate", elem_id="generate-tab"):
                    generate.build(studio, catalog, language, past, concurrency, pronunciations,
                                   Pronouncer(clips, catalog, out_dir=studio.out_dir))
                with gr.Tab("A/B test", id="ab", elem_id="ab-tab"):
                    form, votes = ab.build(desk, catalog, language, past, concurrency, pronunciations)
                with gr.Tab("Leaderboard", id="leaderboard", elem_id="leaderboard-tab") as board_tab:
                    leaderboard.build(desk, catalog, language, board_tab, votes, form.language)
                with gr.Tab("Audition", id="audition", elem_id="audition-tab"):
                    shortlist = audition.build(auditioner, desk, catalog, language, past, tabs, form, concurrency,
                                               pronunciations)
                with gr.Tab("Tests", id="tests", elem_id="tests-tab") as tests_tab:
                    test_desk = TestDesk(desk, catalog)
                    test_form = tests.build(test_desk, catalog, language, tests_tab)
                with gr.Tab("History", id="history", elem_id="history-tab"):
                    history.build(past)
            build_api(studio, concurrency, ListeningDesk(desk.store, catalog))
            gr.Markdown(ABOUT, elem_id="about")
            shortlist.test_button.click(test_desk.from_shortlist, [shortlist.language, shortlist.voices],
                                        [tabs, test_form.language, test_form.voices], queue=False,
                                        api_visibility="private")
        rater.build(RaterDesk(desk), studio_view, demo)
    return demo


def main() -> None:
    # exit 1, one line, on a bad catalog or setting, or a votes database that cannot be created
    try:  # a RunPod-only studio checks no device or precision: it never imports torch
        local = settings.backend() == "local"
    except SettingsError:
        local = False  # start_up names the bad value
    # a local studio speaks the lexicon itself: its phonemes are checked against the models now
    catalog = startup.start_up("kokoro studio", VoteStore, *([lexicon.check_sounds] if local else []),
                               engine=local)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per internal Gradio request
    backend = backend_from_env()
    caps = backend.capabilities
    log.info("Studio backend: %s", caps.kind)
    if not settings.env_flag("KOKORO_SKIP_WARMUP"):
        background.start(backend.warm_up, settings.models(list(catalog.models)), name="kokoro-warm-up")
    demo = build(Studio(backend, catalog), catalog, backend.describe(), concurrency=caps.page_jobs)
    demo.queue(max_size=64).launch(theme=THEME, css=CSS, head=HEAD, footer_links=["api", "gradio"],
                                   show_error=False)


if __name__ == "__main__":
    main()
