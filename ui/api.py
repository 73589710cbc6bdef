"""The studio's public API for programs: `/generate`, `/create_test` and `/test_results`, called
with gradio_client or plain HTTP.

The page's own Generate event feeds dropdowns and a streaming player; a script needs neither.
This endpoint takes plain values (any catalog voice or blend, any language: no dropdown's choices
gate them) and returns the audio file and plain fields. Its components are never shown: they only
give the endpoint its parameter and return types.

    from gradio_client import Client
    audio, duration_s, phonemes, message = Client("http://127.0.0.1:7860/").predict(
        "你好，世界。", "zf_xiaoxiao", "zh", 1.0, True, "wav", api_name="/generate")
    link = client.predict("Product voice", "en-us", "One sentence.\nAnother one.", "af_heart,am_adam",
                          api_name="/create_test")             # → http://…/?test=<id>
    results = client.predict(link, api_name="/test_results")  # → the results as JSON
"""

from __future__ import annotations

import gradio as gr

from ui.feedback import as_toast
from ui.studio import listening
from ui.studio.votes import VoteStore
from ui.tabs.generate import Studio
from worker.core.catalog import Catalog


class Blocks(gr.Blocks):
    """gr.Blocks whose events answer a call with too few values (plain HTTP can send any list) with
    a sentence naming what they take, where Gradio's own ValueError reaches the caller as null."""

    def validate_inputs(self, block_fn, inputs: list) -> None:
        if len(inputs) < len(block_fn.inputs):
            names = ", ".join(str(getattr(b, "label", None) or type(b).__name__) for b in block_fn.inputs)
            raise gr.Error(f"This call sent {len(inputs)} of the {len(block_fn.inputs)} values it takes "
                           f"({names}).", print_exception=False)
        super().validate_inputs(block_fn, inputs)


def page_url(request: gr.Request | None) -> str:
    """The studio's address as the caller reached it (behind a Space's proxy too)."""
    if request is None:
        return ""
    headers = getattr(request, "headers", {}) or {}
    url = getattr(request, "url", None)
    scheme = headers.get("x-forwarded-proto") or getattr(url, "scheme", "http")
    host = headers.get("x-forwarded-host") or headers.get("host") or getattr(url, "netloc", "")
    return f"{scheme}://{host}/" if host else ""


class ListeningDesk:
    """The listening tests' public endpoints: plain values in, a link or plain JSON out; a bad
    value is a toast-like error with one sentence (Gradio hands it to the client)."""

    def __init__(self, store: VoteStore, catalog: Catalog):
        self.store, self.catalog = store, catalog

    def create_test(self, name: str, language: str, sentences: str, voices: str,
                    request: gr.Request | None = None) -> str:
        """A new listening test; returns its link to hand to raters."""
        with as_toast("Cannot make this test"):
            test = listening.create(self.store, self.catalog, name, language, sentences, voices)
        return f"{page_url(request)}?test={test.id}"

    def test_results(self, id_or_link: str) -> dict:
        """A test's results (ratings with intervals, win matrix, breakdowns, agreement, progress)."""
        with as_toast("Cannot read this test"):
            return listening.results(self.store, id_or_link)


def build_api(studio: Studio, concurrency: int, tests: ListeningDesk | None = None) -> None:
    with gr.Group(visible=False):
        inputs = [gr.Textbox(label="text"), gr.Textbox("af_heart", label="voice"),
                  gr.Textbox("en-us", label="language"), gr.Number(1.0, label="speed"),
                  gr.Checkbox(True, label="split_sentences"), gr.Textbox("wav", label="format")]
        outputs = [gr.File(label="audio"), gr.Number(label="duration_s"), gr.Textbox(label="phonemes"),
                   gr.Textbox(label="message")]
        trigger = gr.Button(visible=False)
    # preprocess=False: the values reach api_generate as sent, so a speed of "abc" or null gets the
    # worker's sentence rather than Gradio's failed float() ("the upstream app raised an exception").
    trigger.click(studio.api_generate, inputs, outputs, api_name="generate", api_visibility="public",
                  concurrency_limit=concurrency, concurrency_id="synthesis", preprocess=False)
    if tests is None:
        return
    with gr.Group(visible=False):
        test_inputs = [gr.Textbox(label="name"), gr.Textbox("en-us", label="language"),
                       gr.Textbox(label="sentences"), gr.Textbox(label="voices")]
        link = gr.Textbox(label="link")
        id_or_link = gr.Textbox(label="test")
        found = gr.JSON(label="results")
        create_trigger, results_trigger = gr.Button(visible=False), gr.Button(visible=False)
    create_trigger.click(tests.create_test, test_inputs, link, api_name="create_test", api_visibility="public")
    results_trigger.click(tests.test_results, id_or_link, found, api_name="test_results", api_visibility="public")
