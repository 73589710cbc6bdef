"""Kokoro voice studio: the Gradio page (layout and wiring only; the handlers live in ui/callbacks.py).

Run: `python ui/app.py` (GRADIO_SERVER_NAME / GRADIO_SERVER_PORT as usual). It is also the
Hugging Face Spaces app_file. Synthesis runs on RunPod when RUNPOD_ENDPOINT_ID is set (or
KOKORO_BACKEND=runpod), else locally on this machine's GPU or CPU; the page says which.
"""

from __future__ import annotations

import logging
import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as `python ui/app.py`

import gradio as gr  # noqa: E402

from worker.catalog import Catalog  # noqa: E402
from worker.request import FORMATS, SPEED_MAX, SPEED_MIN  # noqa: E402
from worker import settings  # noqa: E402
from worker.settings import max_text_chars  # noqa: E402

from ui import choices  # noqa: E402
from ui.backends import LocalBackend, backend_from_env, shared_engine  # noqa: E402
from ui.ab import ABDesk  # noqa: E402
from ui.ffmpeg_path import ensure_ffmpeg  # noqa: E402
from ui.ab_tab import build_ab, build_leaderboard  # noqa: E402
from ui.api import build_api  # noqa: E402
from ui.audition import Auditioner  # noqa: E402
from ui.audition_tab import build_audition, build_history  # noqa: E402
from ui.callbacks import Studio  # noqa: E402
from ui.clips import ClipMaker  # noqa: E402

log = logging.getLogger("kokoro.ui")

TITLE = "Kokoro Voice Studio"
DEFAULT_LANGUAGE = "en-us"

ABOUT = """\
**About the voices.** Grades (A best … F) are the ones published with Kokoro. Ungraded: the
Chinese-focused v1.1-zh release (which also reads English) and the Spanish and Portuguese voices,
whose grades were never published. Generate plays as it synthesizes and downloads in the format
you chose; A/B and Audition compare finished clips.
"""

# Local font stacks only: a Google-font theme would make every visitor's browser call out.
THEME = gr.themes.Soft(
    primary_hue="indigo", secondary_hue="violet", neutral_hue="slate", radius_size="lg",
    font=["Inter", "ui-sans-serif", "system-ui", "Segoe UI", "Roboto", "sans-serif"],
    font_mono=["ui-monospace", "SFMono-Regular", "Menlo", "Consolas", "monospace"],
)

CSS = """
.gradio-container { max-width: 1180px !important; width: 100% !important; margin: 0 auto !important; }
#studio { width: 100%; }
#hero { text-align: center; padding: 18px 0 4px; }
#hero h1 { font-size: 2.3rem; font-weight: 800; margin: 0;
  background: linear-gradient(90deg, #4f46e5, #9333ea); -webkit-background-clip: text;
  background-clip: text; color: transparent; }
#hero p { font-size: 1.05rem; opacity: .8; margin: 6px 0 0; }
#backend { text-align: center; font-size: .9rem; opacity: .85; margin-bottom: 6px; }
#backend p { display: inline-block; padding: 4px 14px; border-radius: 999px;
  background: var(--block-background-fill); border: 1px solid var(--border-color-primary); }
.status { font-size: .95rem; padding: 6px 2px; }
.status-idle { opacity: .65; }
.status-done { color: #15803d; font-weight: 600; }
.status-error { color: #b91c1c; }
.status-stopped { color: #a16207; }
#generate { font-size: 1.1rem; }
#model label { padding-left: 10px; padding-right: 10px; }
#about { font-size: .85rem; opacity: .7; margin-top: 8px; }
@media (max-width: 480px) {
  .tab-container button { padding: 0 7px !important; font-size: 13px !important; }
  #hero h1 { font-size: 1.8rem; }
}
"""
# A phone (390 px): narrower page margins and tab labels (CSS above), so all five tabs fit in the tab
# bar instead of hiding behind "⋯" (Gradio moves whatever does not fit into an overflow menu). The
# page margin sits outside what `css` may style (Gradio scopes it to the content), hence a <style>.
HEAD = "<style>@media (max-width: 480px) { .gradio-container .main.app { padding: 8px !important; } }</style>"


def build(studio: Studio, catalog: Catalog, banner: str, concurrency: int = 1,
          desk: ABDesk | None = None, auditioner: Auditioner | None = None) -> gr.Blocks:
    """The page: a hero, the backend banner, and the tabs."""
    ensure_ffmpeg()  # the streaming player's encoder
    language = DEFAULT_LANGUAGE if DEFAULT_LANGUAGE in catalog.languages else next(iter(catalog.languages))
    clips = ClipMaker(studio.backend, catalog)
    desk = desk or ABDesk(clips, catalog, out_dir=studio.out_dir)
    auditioner = auditioner or Auditioner(clips, catalog, out_dir=studio.out_dir)
    # delete_cache: Gradio's copies of downloads and streams go after two hours, checked hourly.
    with gr.Blocks(title=TITLE, delete_cache=(3600, 7200)) as demo:
        gr.HTML(f"<div id='hero'><h1>{TITLE}</h1><p>Natural speech from text in nine languages and "
                f"{len(catalog.voices)} voices, with the open-weight Kokoro-82M model.</p></div>")
        gr.Markdown(banner, elem_id="backend")
        past = gr.State([])  # this session's history (ui/history.py)
        with gr.Tabs() as tabs:
            with gr.Tab("Generate", id="generate", elem_id="generate-tab"):
                build_generate(studio, catalog, language, past, concurrency)
            with gr.Tab("A/B test", id="ab", elem_id="ab-tab"):
                form, votes = build_ab(desk, catalog, language, past, concurrency)
            with gr.Tab("Leaderboard", id="leaderboard", elem_id="leaderboard-tab") as board_tab:
                build_leaderboard(desk, catalog, language, board_tab, votes, form.language)
            with gr.Tab("Audition", id="audition", elem_id="audition-tab"):
                build_audition(auditioner, desk, catalog, language, past, tabs, form, concurrency)
            with gr.Tab("History", id="history", elem_id="history-tab"):
                build_history(past)
        build_api(studio, concurrency)
        gr.Markdown(ABOUT, elem_id="about")
    return demo


def build_generate(studio: Studio, catalog: Catalog, language: str, past: gr.State, concurrency: int) -> None:
    """One text, one voice: streamed playback, a download in the chosen format."""
    models = choices.model_choices(catalog, language)
    with gr.Row(equal_height=False, elem_id="studio"):
        with gr.Column(scale=7, elem_id="inputs"):
            with gr.Row():
                # min_width: on a phone the Model choice wraps below instead of squeezing Language.
                language_dd = gr.Dropdown(choices.language_choices(catalog), value=language,
                                          label="Language", scale=1, min_width=260)
                model_radio = gr.Radio(models, value=choices.ALL_MODELS, label="Model", scale=1,
                                       visible=len(models) > 2, elem_id="model")
            voice_dd = gr.Dropdown(choices.voice_choices(catalog, language),
                                   value=choices.default_voice(catalog, language), label="Voice",
                                   info="Best graded first; type to search")
            text_box = gr.Textbox(choices.sample_text(catalog, language), label="Text", lines=7,
                                  max_lines=18, info=f"Up to {max_text_chars():,} characters; "
                                  "long text starts playing after its first sentence")
            with gr.Row():
                speed = gr.Slider(SPEED_MIN, SPEED_MAX, value=1.0, step=0.05, label="Speed", scale=3)
                fmt = gr.Dropdown(list(FORMATS), value="wav", label="Output format", scale=2,
                                  filterable=False)
            split = gr.Checkbox(True, label="Split sentences (one chunk per sentence)")
            with gr.Row():
                generate_btn = gr.Button("Generate", variant="primary", size="lg", scale=3,
                                         elem_id="generate")
                stop_btn = gr.Button("Stop" if isinstance(studio.backend, LocalBackend) else "Cancel",
                                     variant="stop", size="lg", scale=1)
        with gr.Column(scale=5, elem_id="outputs"):
            player = gr.Audio(label="Listen", streaming=True, autoplay=True, interactive=False,
                              sources=["microphone"],  # required by Gradio for a streaming output
                              buttons=[], elem_id="player")
            status = gr.HTML("<div class='status status-idle'>Pick a voice and press Generate.</div>",
                             elem_id="status")
            details = gr.Markdown("", elem_id="details")
            download = gr.File(label="Download", interactive=False, visible=False, elem_id="download")
            with gr.Accordion("Phonemes", open=False):
                phonemes = gr.Textbox(label="Phonemes used (one line per chunk)", lines=4,
                                      max_lines=12, interactive=False, buttons=["copy"],
                                      elem_id="phonemes")

    # Catalog look-ups only: answered at once, never queued behind a synthesis.
    language_dd.input(studio.on_language, [language_dd, text_box], [model_radio, voice_dd, text_box],
                      api_visibility="private", queue=False)
    model_radio.input(studio.on_model, [language_dd, model_radio, voice_dd], voice_dd,
                      api_visibility="private", queue=False)
    generate_btn.click(
        studio.generate, [text_box, language_dd, voice_dd, speed, split, fmt],
        [player, download, status, details, phonemes], api_name="generate_page", api_visibility="private",
        concurrency_limit=concurrency, concurrency_id="synthesis", show_progress_on=[status],
    ).then(studio.remember, [download, past], past,
           queue=False, api_visibility="private")
    # No `cancels=`: the run sees the flag within a tick, says "Stopped" and ends its stream
    # cleanly (RunPod: cancels the job); a Gradio cancel would leave a stale status behind.
    stop_btn.click(studio.stop, None, None, api_visibility="private", queue=False)


def _preload(models: list[str]) -> None:
    # Loads weights while the first visitor reads the page; a failure shows up on Generate instead.
    engine = shared_engine()
    for name in models:
        try:
            engine.model(name)
        except Exception as exc:  # noqa: BLE001 (logged; the user sees the error on Generate)
            log.warning("Could not preload Kokoro %s: %s", name, exc)


def main() -> None:
    catalog = settings.start_up("kokoro studio")  # exit 1, one line, on a bad catalog or setting
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per internal Gradio request
    backend = backend_from_env()
    log.info("Studio backend: %s", backend.name)
    local = isinstance(backend, LocalBackend)
    if local and not settings.env_flag("KOKORO_SKIP_WARMUP"):
        threading.Thread(target=_preload, args=(settings.models(list(catalog.models)),), daemon=True).start()
    # Local synthesis is compute-bound: one at a time. RunPod jobs only wait on HTTP here.
    demo = build(Studio(backend, catalog), catalog, backend.describe(), concurrency=1 if local else 16)
    demo.queue(max_size=64).launch(theme=THEME, css=CSS, head=HEAD, footer_links=["api", "gradio"],
                                   show_error=False)


if __name__ == "__main__":
    main()
