"""A rater's page: the studio opened with `?test=<id>` shows only that listening test.

"Pair 3 of 24", two blind players, the four outcomes and Next; nothing to set but an optional
name. The rater's id lives in the browser's local storage, so a reload (or a return next day)
resumes their stored sequence (ui/studio/listening.py). Every pair is a blind round of the A/B
tab's kind: loudness-matched, disguised files (ui/studio/blind.py), and the server's RoundBook
decides whether a vote counts (both clips played long enough, the client's vote rate); the vote
store keeps one vote per rater and pair. Clips come through the studio's clip cache, so each
(sentence, voice) is synthesized once for all raters, and the next pair's clips are made while
the rater listens to this one. Keys (a script in ui/theme.py's HEAD): A, B, T (tie), X (both bad),
space (play/pause), N (next pair).

`RaterDesk` holds the callbacks (tested directly); `build` lays the view out.
"""

from __future__ import annotations

import html
import threading
from dataclasses import dataclass
from functools import partial

import gradio as gr

from ui import feedback
from ui.feedback import as_toast
from ui.studio import listening, voters
from ui.studio.blind import blind_speed
from ui.studio.clips import Clip, worker_count
from ui.studio.ratings import OUTCOMES
from ui.studio.rounds import Round, Side, VoteRefused
from ui.studio.votes import AlreadyVoted
from ui.tabs.ab import VOTED, ABDesk
from worker.core.errors import InputError, KokoroError

# Kept in the browser; the encryption Gradio applies happens in the page, so its key is no secret:
# a fixed one keeps a rater's id readable after the studio restarts.
RATER_KEY = "kokoro-rater"
RATER_SECRET = "kokoro-studio-rater-id"
LABELS = {"a": "A is better", "b": "B is better", "tie": "Tie", "bad": "Both bad"}
KEYS = {"a": "A", "b": "B", "tie": "T", "bad": "X"}
HELP = ("Keys: **A** or **B** for the better clip, **T** for a tie, **X** if both are bad, **space** plays or "
        "pauses, **N** for the next pair. A vote counts once you have played both clips (3 s of each).")


@dataclass(frozen=True)
class RaterPair:
    """What the server keeps of the pair on screen (in gr.State: never sent to the browser)."""
    test_id: str
    rater: str
    index: int
    round: Round


def _buttons(enabled: bool) -> list:
    return [gr.update(interactive=enabled) for _ in OUTCOMES]


class RaterDesk:
    """Callbacks of a rater's page, on the A/B desk's clips, rounds and vote store."""

    def __init__(self, desk: ABDesk):
        self.desk = desk
        self.catalog = desk.catalog

    def open_page(self, rater: str | None, request: gr.Request | None = None):
        """The page's load. Without `?test=` the studio shows as always; with it, only the test.
        Outputs: studio view, rater view, heading, rater id (browser), test id, name."""
        params = getattr(request, "query_params", None) or {}
        wanted = params.get("test")
        if not wanted:
            return gr.update(visible=True), gr.update(visible=False), gr.skip(), gr.skip(), None, gr.skip()
        try:
            test = listening.load(self.desk.store, wanted)
        except InputError as exc:
            heading = f"### This listening test cannot be opened\n{feedback.message(exc)}"
            return gr.update(visible=False), gr.update(visible=True), heading, gr.skip(), None, gr.skip()
        rater = rater if listening.is_rater(rater) else listening.new_rater()
        language = self.catalog.languages.get(test.language)
        heading = (f"## {html.escape(test.name)}\nA blind listening test in "
                   f"{language.name if language else test.language}: for each pair, play both clips and "
                   "choose the one that sounds better. The voices stay hidden.")
        return (gr.update(visible=False), gr.update(visible=True), heading, rater, test.id,
                listening.rater_name(self.desk.store, test, rater))

    def next_pair(self, test_id: str | None, rater: str | None, name: str | None = None,
                  progress: gr.Progress = gr.Progress()):
        """The rater's next pair without a vote, its clips made (or taken from the cache).
        Outputs: pair state, players A and B, status, 4 vote buttons, Next, progress line."""
        if not test_id:
            return (gr.skip(),) * (6 + len(OUTCOMES))
        with as_toast("Cannot open the next pair"):
            test = listening.load(self.desk.store, test_id)
            left, total = listening.remaining(self.desk.store, test, rater or "", name or "")
        if not left:
            return (None, gr.update(value=None, label="A"), gr.update(value=None, label="B"),
                    feedback.status(f"All {total} pairs rated: thank you! You can close this page.", "done"),
                    *_buttons(False), gr.update(interactive=False), f"**Done: {total} of {total}**")
        pair = left[0]
        progress(0.0, desc="Making the clips…")
        made = self._clips(test, pair)
        paths = self.desk.blind_files(made)
        sides = tuple(Side(c.key.voice, c.key.model, c.key.speed, str(p)) for c, p in zip(made, paths))
        rnd = Round(self.desk.book.open((made[0].duration_s, made[1].duration_s), True), test.language,
                    test.sentences[pair.sentence], sides, True)
        if len(left) > 1:  # the next pair's clips are made while the rater listens to this one
            threading.Thread(target=self._prefetch, args=(test, left[1]), daemon=True,
                             name="kokoro-rater-prefetch").start()
        done = total - len(left)
        return (RaterPair(test.id, rater or "", pair.index, rnd), gr.update(value=paths[0], label="A"),
                gr.update(value=paths[1], label="B"), feedback.status("Play A and B, then choose."),
                *_buttons(False), gr.update(interactive=False), f"**Pair {done + 1} of {total}**")

    def _payloads(self, test: listening.Test, pair: listening.Pair) -> list[dict]:
        text = test.sentences[pair.sentence]  # each clip at its secret tempo, as in a blind A/B round
        return [{"text": text, "voice": voice, "language": test.language, "speed": blind_speed(1.0, text, voice),
                 "format": "wav"} for voice in (pair.left, pair.right)]

    def _clips(self, test: listening.Test, pair: listening.Pair) -> list[Clip]:
        made: list[Clip | None] = [None, None]
        with as_toast("Cannot make this pair's clips"):
            for i, result in self.desk.clips.make_many(self._payloads(test, pair),
                                                       workers=worker_count(self.desk.clips.backend)):
                if isinstance(result, KokoroError):
                    raise result
                made[i] = result
        return made

    def _prefetch(self, test: listening.Test, pair: listening.Pair) -> None:
        for _ in self.desk.clips.make_many(self._payloads(test, pair), workers=1):
            pass  # the clips land in the shared cache; a failure shows when the pair is opened

    def played(self, index: int, current: RaterPair | None):
        """A player was started. Outputs: status, 4 vote buttons."""
        return self.desk.played(index, current.round if current else None)

    def vote(self, outcome: str, current: RaterPair | None, request: gr.Request | None = None):
        """The vote, if it counts. Outputs: status, 4 vote buttons, Next."""
        if current is None:
            raise gr.Error("There is no pair on screen to vote on.", print_exception=False)
        client = voters.client_tag(request)
        try:
            self.desk.book.admit(current.round.round_id, client)
        except VoteRefused as exc:
            raise gr.Error(str(exc), title="Vote not counted", print_exception=False) from None
        with as_toast("Vote not counted"):
            try:
                test = listening.load(self.desk.store, current.test_id)
                listening.record(self.desk.store, self.catalog, test, current.rater, current.index, outcome,
                                 backend=self.desk.clips.backend.capabilities.kind)
            except BaseException as exc:
                self.desk.book.refund(client)  # not stored: it does not count against the rate
                if isinstance(exc, AlreadyVoted):
                    raise gr.Error(VOTED, title="Vote not counted", print_exception=False) from None
                raise
        self.desk.book.close(current.round.round_id, VOTED)
        return (feedback.status(f"Saved: {LABELS[outcome]}. Press N for the next pair.", "done"),
                *_buttons(False), gr.update(interactive=True))

    def rename(self, test_id: str | None, rater: str | None, name: str | None) -> None:
        if test_id and listening.is_rater(rater):
            with as_toast("Cannot save the name"):
                listening.set_name(self.desk.store, listening.load(self.desk.store, test_id), rater, name)


def build(raters: RaterDesk, studio_view: gr.Column, demo: gr.Blocks) -> None:
    """The rater's view (hidden until a `?test=` link opens the page) and the page's load event."""
    rater_id = gr.BrowserState(None, storage_key=RATER_KEY, secret=RATER_SECRET)
    test_id, current = gr.State(None), gr.State(None)
    with gr.Column(visible=False, elem_id="rater") as view:
        heading = gr.Markdown("")
        position = gr.Markdown("", elem_id="rater-progress")
        with gr.Row(equal_height=True):
            player_a = gr.Audio(label="A", type="filepath", interactive=False, buttons=[], elem_id="rater-a")
            player_b = gr.Audio(label="B", type="filepath", interactive=False, buttons=[], elem_id="rater-b")
        status = gr.HTML(feedback.status("Loading your first pair…", "idle"), elem_id="rater-status")
        with gr.Row(elem_classes=["rater-votes"]):
            buttons = [gr.Button(f"{LABELS[o]} ({KEYS[o]})", interactive=False, elem_id=f"rate-{o}",
                                 elem_classes=["vote"]) for o in OUTCOMES]
        next_btn = gr.Button("Next pair (N)", variant="primary", interactive=False, elem_id="rate-next")
        name = gr.Textbox(label="Your name (optional)", max_length=60, elem_id="rater-name",
                          info="Shown with your votes in the results; leave empty to stay anonymous")
        gr.Markdown(HELP, elem_classes=["intro"])
    quiet = dict(queue=False, api_visibility="private")
    pair_outputs = [current, player_a, player_b, status, *buttons, next_btn, position]
    demo.load(raters.open_page, rater_id, [studio_view, view, heading, rater_id, test_id, name], **quiet).then(
        raters.next_pair, [test_id, rater_id, name], pair_outputs, api_visibility="private",
        show_progress_on=[status])
    next_btn.click(raters.next_pair, [test_id, rater_id, name], pair_outputs, api_visibility="private",
                   show_progress_on=[status])
    for index, player in enumerate((player_a, player_b)):
        player.play(partial(raters.played, index), current, [status, *buttons], **quiet)
    for outcome, btn in zip(OUTCOMES, buttons):
        btn.click(_voting(raters, outcome), current, [status, *buttons, next_btn], api_visibility="private")
    name.blur(raters.rename, [test_id, rater_id, name], None, **quiet)
    name.submit(raters.rename, [test_id, rater_id, name], None, **quiet)


def _voting(raters: RaterDesk, outcome: str):
    # A real function, not a partial: Gradio finds the gr.Request parameter by its type hint.
    def vote(current, request: gr.Request):
        return raters.vote(outcome, current, request)
    return vote
