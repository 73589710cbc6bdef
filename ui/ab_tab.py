"""Layout of the A/B and Leaderboard tabs (the handlers live in ui/ab.py and ui/leaderboard.py)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import gradio as gr

from worker.catalog import Catalog
from worker.request import SPEED_MAX, SPEED_MIN

from ui import choices, feedback, leaderboard
from ui.ab import ABDesk
from ui.ratings import OUTCOMES

VOTE_LABELS = {"a": "A is better", "b": "B is better", "tie": "Tie", "bad": "Both bad"}
INTRO = """\
Compare two voices on one text. **Blind** shuffles the sides and hides the names until you vote.
A vote counts once per pair, after you have played both clips (at least 3 s of each).
**Next pair** draws the two voices of the pool compared least so far, so a team can run a
listening session over a shortlist (an empty pool means every voice of the language).
"""


@dataclass
class ABForm:
    """The A/B inputs other tabs fill in (an auditioned clip sent to a side)."""

    language: gr.Dropdown
    text: gr.Textbox
    voice_a: gr.Dropdown
    voice_b: gr.Dropdown
    speed_a: gr.Slider
    speed_b: gr.Slider


def build_ab(desk: ABDesk, catalog: Catalog, language: str, past: gr.State, concurrency: int) -> tuple[ABForm, list]:
    """The A/B tab; returns its form and the events after which the leaderboard should refresh."""
    offered = choices.voice_choices(catalog, language)
    ids = [vid for _, vid in offered]
    gr.Markdown(INTRO, elem_classes=["intro"])
    with gr.Row():
        lang = gr.Dropdown(choices.language_choices(catalog), value=language, label="Language", scale=2,
                           min_width=260)  # a phone: the checkbox wraps below, Language stays whole
        blind = gr.Checkbox(True, label="Blind test (shuffle and hide the voices until the vote)", scale=3)
    text = gr.Textbox(choices.sample_text(catalog, language), label="Text", lines=2, max_lines=6)
    sides = []
    with gr.Row():
        for letter, value in (("A", ids[0]), ("B", ids[1])):
            with gr.Column():
                voice = gr.Dropdown(offered, value=value, label=f"Voice {letter}", allow_custom_value=True,
                                    info="Any voice of the language, or a blend: af_heart:0.6,af_bella:0.4")
                speed = gr.Slider(SPEED_MIN, SPEED_MAX, value=1.0, step=0.05, label=f"Speed {letter}")
                sides.append((voice, speed))
    with gr.Row():
        pool = gr.Dropdown(offered, value=[], multiselect=True, label="Pool for the next pair", scale=4,
                           info="Empty: every voice of the language")
        with gr.Column(scale=1, min_width=180):
            compare_btn = gr.Button("Generate A/B", variant="primary")
            next_btn = gr.Button("Next pair", variant="secondary")
    with gr.Row(equal_height=True):
        player_a = gr.Audio(label="A", type="filepath", interactive=False, buttons=["download"], elem_id="player-a")
        player_b = gr.Audio(label="B", type="filepath", interactive=False, buttons=["download"], elem_id="player-b")
    status = gr.HTML(feedback.status("Generate a pair, or draw one with Next pair.", "idle"), elem_id="ab-status")
    with gr.Row():
        buttons = [gr.Button(VOTE_LABELS[o], interactive=False, elem_classes=["vote"]) for o in OUTCOMES]
    reveal = gr.Markdown("", elem_id="reveal")
    round_state = gr.State(None)

    (voice_a, speed_a), (voice_b, speed_b) = sides
    lang.input(desk.on_language, [lang, text], [voice_a, voice_b, pool, text], queue=False,
               api_visibility="private")
    blind.input(desk.on_blind, [blind, round_state], [voice_a, voice_b, status, *buttons], queue=False,
                api_visibility="private")
    round_outputs = [voice_a, voice_b, player_a, player_b, status, *buttons, reveal, round_state, past]
    synth = dict(concurrency_limit=concurrency, concurrency_id="synthesis", api_visibility="private",
                 show_progress_on=[status])
    compare_btn.click(desk.compare, [lang, text, voice_a, speed_a, voice_b, speed_b, blind, past],
                      round_outputs, **synth)
    next_btn.click(desk.next_pair, [lang, text, pool, speed_a, speed_b, blind, past], round_outputs, **synth)
    for index, player in enumerate((player_a, player_b)):
        player.play(partial(desk.played, index), round_state, [status, *buttons],
                    queue=False, api_visibility="private")
    votes = [btn.click(_voting(desk, outcome), [round_state, past],
                       [status, *buttons, reveal, player_a, player_b, voice_a, voice_b, past],
                       api_visibility="private")
             for outcome, btn in zip(OUTCOMES, buttons)]
    return ABForm(lang, text, voice_a, voice_b, speed_a, speed_b), votes


def _voting(desk: ABDesk, outcome: str):
    # A real function, not a partial: Gradio finds the gr.Request parameter by its type hint.
    def vote(rnd, past: list | None, request: gr.Request):
        return desk.vote(outcome, rnd, past, request)
    return vote


def build_leaderboard(desk: ABDesk, catalog: Catalog, language: str, tab: gr.Tab, votes: list,
                      ab_language: gr.Dropdown) -> None:
    with gr.Row():
        lang = gr.Dropdown(choices.language_choices(catalog), value=language, label="Language", scale=3)
        refresh_btn = gr.Button("Refresh", scale=1)
        export_btn = gr.Button("Export votes (CSV)", scale=1)
    summary = gr.Markdown("", elem_id="board-summary")
    with gr.Row():
        board = gr.Dataframe(headers=leaderboard.TABLE_COLUMNS, interactive=False, label="Ratings",
                             elem_id="board", scale=3, max_height=480)
        chart = gr.BarPlot(x="Voice", y="vs average", sort="-y", label="Points above or below average",
                           x_label_angle=-45, scale=2, elem_id="board-chart")
    export_file = gr.File(label="Votes CSV", visible=False, interactive=False, elem_id="votes-csv")

    def show(code: str):
        return leaderboard.standings(desk.store, code, catalog)

    def export():
        return gr.update(value=str(leaderboard.export_csv(desk.store, desk.out_dir)), visible=True)

    outputs = [board, chart, summary]
    quiet = dict(queue=False, api_visibility="private")
    lang.change(show, lang, outputs, **quiet)
    refresh_btn.click(show, lang, outputs, **quiet)
    tab.select(show, lang, outputs, **quiet)
    def follow(code: str):  # after a vote: the board of the language just voted on
        return code, *show(code)

    for event in votes:
        event.success(follow, ab_language, [lang, *outputs], **quiet)
    export_btn.click(export, None, export_file, **quiet)
