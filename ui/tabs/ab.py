"""The A/B tab: two clips of one text, a blind shuffle, the vote and the next pair.

`ABDesk` holds the tab's handlers (plain methods, tested directly); `build` lays the tab out.

A round lives in the session's `gr.State` (server side: the browser never holds it), and the
server's RoundBook (ui/studio/rounds.py) decides whether a vote counts: both clips started, listened to
long enough, within the session's vote rate, and one vote per round (the vote store's unique round
id). In blind mode the sides are shuffled, the players are labelled only "A" and "B", the voice
pickers are hidden until the vote, and the files are disguised (ui/studio/blind.py), so nothing the page
can fetch names a voice or matches the file of an open round. "Next pair" draws the two voices of
the pool that have been compared least often, so a listening session covers the pool evenly.
"""

from __future__ import annotations

import os
import random
import threading
from collections import Counter
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import gradio as gr

from ui import feedback
from ui.feedback import as_toast
from ui.studio import choices, files, history, loudness, voters
from ui.studio.blind import blind_speed, disguise
from ui.studio.clips import Clip, ClipMaker, worker_count
from ui.studio.ratings import OUTCOMES
from ui.studio.rounds import Round, RoundBook, Side, VoteRefused, draw_pair, side_label
from ui.studio.votes import AlreadyVoted, Vote, VoteStore
from ui.tabs.pronunciations import applied
from worker.core.catalog import Catalog
from worker.core.errors import InputError, KokoroError
from worker.service.request import SPEED_MAX, SPEED_MIN

OUTCOME_WORDS = {"a": "A is better", "b": "B is better", "tie": "a tie", "bad": "both bad"}


VOTED = "This pair has a vote already."
SHOWN = "The voices were shown before a vote: this blind pair no longer takes one."


def _buttons(enabled: bool) -> tuple:
    return tuple(gr.update(interactive=enabled) for _ in OUTCOMES)


class ABDesk:
    """Callbacks of the A/B tab, bound to the studio's clip maker and the vote store."""

    def __init__(self, clips: ClipMaker, catalog: Catalog, votes_path: str | Path | None = None,
                 out_dir: Path | None = None, rng: random.Random | None = None, book: RoundBook | None = None):
        self.clips = clips
        self.catalog = catalog
        self.out_dir = Path(out_dir or files.default_dir())
        self.book = book or RoundBook()
        self._votes_path = votes_path
        self._store: VoteStore | None = None
        self._store_lock = threading.Lock()
        self.rng = rng or random.SystemRandom()

    @property
    def store(self) -> VoteStore:
        # Opened on first use: an unwritable path then becomes a toast, not a dead app.
        with self._store_lock:
            if self._store is None:
                try:
                    self._store = VoteStore(self._votes_path)
                except Exception as exc:  # sqlite3 / OS errors carry the path, which helps
                    raise gr.Error(f"The vote database cannot be opened: {exc}",
                                   print_exception=False) from None
            return self._store

    def on_language(self, language: str, text: str | None):
        """The sides offer the language's voices (both models; blends can be typed) and the pool empties."""
        offered = choices.voice_choices(self.catalog, language)
        ids = [vid for _, vid in offered]
        second = ids[1] if len(ids) > 1 else ids[0]
        return (gr.Dropdown(choices=offered, value=ids[0], visible=True),
                gr.Dropdown(choices=offered, value=second, visible=True),
                gr.Dropdown(choices=offered, value=[]),
                choices.text_after_language_change(self.catalog, language, text))

    # --- a round --------------------------------------------------------------------------------

    def on_blind(self, blind: bool, rnd: Round | None):
        """Blind switched off: the pickers show again, so a blind round waiting for its vote ends.
        Outputs: voice A, voice B, status, 4 vote buttons."""
        if blind:
            return gr.skip(), gr.skip(), gr.skip(), *(gr.skip() for _ in OUTCOMES)
        status = gr.skip()
        if rnd is not None and rnd.blind and self.book.close(rnd.round_id, SHOWN):
            status = feedback.status(SHOWN, "stopped")
        return gr.update(visible=True), gr.update(visible=True), status, *_buttons(False)

    # --- a round --------------------------------------------------------------------------------

    def compare(self, language: str, text: str | None, voice_a: str | None, speed_a: float,
                voice_b: str | None, speed_b: float, blind: bool, past: list | None,
                pronunciations: dict | None = None, progress: gr.Progress = gr.Progress()):
        """Both clips of the text. Outputs: voice A, voice B, players A and B, status, 4 vote
        buttons, reveal, round, history."""
        specs = [(voice_a or "", float(speed_a)), (voice_b or "", float(speed_b))]
        if blind:
            self.rng.shuffle(specs)
        spoken = applied(text, language, pronunciations)  # the session's Pronunciations
        # A blind clip is made at its secret tempo (ui/studio/blind.py): not the file /generate makes.
        payloads = [{"text": spoken, "voice": v, "language": language, "format": "wav",
                     "speed": blind_speed(s, spoken, v) if blind else s} for v, s in specs]
        made: list[Clip | None] = [None, None]
        progress(0.0, desc="Synthesizing A and B…")
        with as_toast():
            for done, (i, result) in enumerate(self.clips.make_many(
                    payloads, workers=worker_count(self.clips.backend)), start=1):
                if isinstance(result, KokoroError):
                    raise gr.Error(feedback.message(result, f"{'AB'[i] if not blind else 'One side'}: "),
                                   title="Cannot synthesize", print_exception=False)
                made[i] = result
                progress(done / 2, desc=f"{done} of 2 clips ready")
        paths = self.blind_files(made) if blind else [self._open_file(clip) for clip in made]
        sides = tuple(Side(c.key.voice, c.key.model, speed, str(p)) for c, p, (_, speed) in zip(made, paths, specs))
        rnd = Round(self.book.open((made[0].duration_s, made[1].duration_s), bool(blind)),
                    language, text or "", sides, bool(blind))
        if blind:
            status, labels = "Blind test: the voices are hidden until you vote. Play both clips.", ("A", "B")
            pickers = (gr.update(visible=False), gr.update(visible=False))
        else:
            status, labels = "Play both clips, then vote.", tuple(side_label(ch, s) for ch, s in zip("AB", sides))
            pickers = tuple(gr.update(value=s.voice, visible=True) for s in sides)
            past = history.add_many(past, [history.entry("A/B", s.voice, language, rnd.text, s.speed, s.path)
                                           for s in sides])
        return (*pickers, gr.update(value=sides[0].path, label=labels[0]),
                gr.update(value=sides[1].path, label=labels[1]), feedback.status(status), *_buttons(False), "",
                rnd, past or [])

    def _open_file(self, clip: Clip) -> Path:
        return files.serve_clip(self.out_dir, clip.key.digest, clip.key.file_name, loudness.leveled_wav(clip.data))

    def blind_files(self, made: list[Clip]) -> list[Path]:
        """The served files of a blind pair (ui/studio/blind.py): the same length, fresh bytes."""
        data = disguise(made[0].data, made[1].data, self.rng)
        paths = [files.save(self.out_dir, f"{letter}.wav", d) for letter, d in zip("AB", data)]
        stamp = os.stat(paths[0]).st_mtime
        for path in paths:  # one time for both: a Last-Modified header cannot tell them apart
            os.utime(path, (stamp, stamp))
        return paths

    def next_pair(self, language: str, text: str | None, pool: list[str] | None, speed_a: float,
                  speed_b: float, blind: bool, past: list | None, pronunciations: dict | None = None,
                  progress: gr.Progress = gr.Progress()):
        """A fresh pair from the pool (empty pool: every voice of the language), then `compare`
        (same outputs)."""
        voices = list(pool or []) or [v.id for v in self.catalog.voices_for(language)]
        counts = Counter(frozenset((v.voice_a, v.voice_b)) for v in self.store.votes(language))
        try:
            a, b = draw_pair(voices, counts, self.rng)
        except InputError as exc:
            raise gr.Error(str(exc), print_exception=False) from None
        outputs = list(self.compare(language, text, a, speed_a, b, speed_b, blind, past, pronunciations,
                                    progress=progress))
        if blind:
            outputs[4] = feedback.status(f"A blind pair from a pool of {len(set(voices))}: "
                                         "the voices are hidden until you vote. Play both clips.")
        return tuple(outputs)

    def played(self, index: int, rnd: Round | None):
        """A player was started: the server notes when. Outputs: status, 4 vote buttons."""
        if rnd is None:
            return gr.skip(), *(gr.skip() for _ in OUTCOMES)
        started = self.book.played(rnd.round_id, index)
        if self.book.closed(rnd.round_id):
            return gr.skip(), *_buttons(False)
        if started == {0, 1}:
            return feedback.status("Both playing or played: which is better?"), *_buttons(True)
        return feedback.status(f"Now play {'AB'[1 - index]}."), *_buttons(False)

    def vote(self, outcome: str, rnd: Round | None, past: list | None, request: gr.Request | None = None):
        """Records the vote if it counts, reveals the names. Outputs: status, 4 buttons, reveal,
        players A and B (labels), voice A, voice B, history."""
        if rnd is None:
            raise gr.Error("Generate a pair first.", print_exception=False)
        client = voters.client_tag(request)
        a, b = rnd.sides
        try:
            self.book.admit(rnd.round_id, client)
            try:
                self.store.record(Vote(
                    language=rnd.language, text=rnd.text, voice_a=a.voice, voice_b=b.voice, model_a=a.model,
                    model_b=b.model, speed_a=a.speed, speed_b=b.speed, outcome=outcome, blind=rnd.blind,
                    backend=self.clips.backend.capabilities.kind, session=voters.session_tag(request),
                    round_id=rnd.round_id))
            except AlreadyVoted:
                self.book.refund(client)
                raise VoteRefused(VOTED) from None
        except VoteRefused as exc:
            raise gr.Error(str(exc), title="Vote not counted", print_exception=False) from None
        self.book.close(rnd.round_id, VOTED)
        if rnd.blind:  # only now may the clips carry their names
            past = history.add_many(past, [history.entry("A/B (blind)", s.voice, rnd.language, rnd.text,
                                                         s.speed, s.path) for s in rnd.sides])
        reveal = (f"**Your vote: {OUTCOME_WORDS[outcome]}.** A was `{a.voice}` (Kokoro {a.model}, {a.speed:g}×), "
                  f"B was `{b.voice}` (Kokoro {b.model}, {b.speed:g}×).")
        return (feedback.status("Vote saved. Next pair?"), *_buttons(False), reveal,
                gr.update(label=side_label("A", a)), gr.update(label=side_label("B", b)),
                gr.update(value=a.voice, visible=True), gr.update(value=b.voice, visible=True), past or [])

    def receive(self, item: dict, side: int, other: str | None):
        """An auditioned clip sent to side A (0) or B (1): the A/B form takes its language, text,
        voice and speed, and the tab opens; Generate then finds the clip in the cache.

        The previous round leaves the screen (its players, vote buttons and reveal; its vote ends):
        they were for other voices.

        Outputs: tabs, language, text, voice A, voice B, speed A, speed B, then ABForm.round_view."""
        language = item["language"]
        offered = choices.voice_choices(self.catalog, language)
        ids = [vid for _, vid in offered]
        keep = other if other in ids else next((v for v in ids if v != item["voice"]), item["voice"])
        voices = [item["voice"], keep] if side == 0 else [keep, item["voice"]]
        speeds = [gr.skip(), gr.skip()]
        speeds[side] = item["speed"]
        return (gr.Tabs(selected="ab"), language, item["text"],
                gr.Dropdown(choices=offered, value=voices[0]), gr.Dropdown(choices=offered, value=voices[1]),
                *speeds, None, None, feedback.status("Press Generate A/B to hear this pair.", "idle"),
                *_buttons(False), "", None)


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
    round_view: list  # players A and B, status, the vote buttons, reveal, the round: what receive clears


def build(desk: ABDesk, catalog: Catalog, language: str, past: gr.State, concurrency: int,
          pronunciations: gr.State) -> tuple[ABForm, list]:
    """The A/B tab; returns its form and the events after which the leaderboard should refresh."""
    offered = choices.voice_choices(catalog, language)
    ids = [vid for _, vid in offered]
    gr.Markdown(INTRO, elem_classes=["intro"])
    with gr.Row(elem_classes=["stack-on-phone"]):  # a phone: the checkbox below, Language stays whole
        lang = gr.Dropdown(choices.language_choices(catalog), value=language, label="Language", scale=2,
                           min_width=260)
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
    compare_btn.click(desk.compare, [lang, text, voice_a, speed_a, voice_b, speed_b, blind, past, pronunciations],
                      round_outputs, **synth)
    next_btn.click(desk.next_pair, [lang, text, pool, speed_a, speed_b, blind, past, pronunciations],
                   round_outputs, **synth)
    for index, player in enumerate((player_a, player_b)):
        player.play(partial(desk.played, index), round_state, [status, *buttons],
                    queue=False, api_visibility="private")
    votes = [btn.click(_voting(desk, outcome), [round_state, past],
                       [status, *buttons, reveal, player_a, player_b, voice_a, voice_b, past],
                       api_visibility="private")
             for outcome, btn in zip(OUTCOMES, buttons)]
    return ABForm(lang, text, voice_a, voice_b, speed_a, speed_b,
                  [player_a, player_b, status, *buttons, reveal, round_state]), votes


def _voting(desk: ABDesk, outcome: str):
    # A real function, not a partial: Gradio finds the gr.Request parameter by its type hint.
    def vote(rnd, past: list | None, request: gr.Request):
        return desk.vote(outcome, rnd, past, request)
    return vote
