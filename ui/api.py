"""The studio's public API for programs: `/generate`, called with gradio_client or plain HTTP.

The page's own Generate event feeds dropdowns and a streaming player; a script needs neither.
This endpoint takes plain values (any catalog voice or blend, any language: no dropdown's choices
gate them) and returns the audio file and plain fields. Its components are never shown: they only
give the endpoint its parameter and return types.

    from gradio_client import Client
    audio, duration_s, phonemes, message = Client("http://127.0.0.1:7860/").predict(
        "你好，世界。", "zf_xiaoxiao", "zh", 1.0, True, "wav", api_name="/generate")
"""

from __future__ import annotations

import gradio as gr

from ui.tabs.generate import Studio


class Blocks(gr.Blocks):
    """gr.Blocks whose events answer a call with too few values (plain HTTP can send any list) with
    a sentence naming what they take, where Gradio's own ValueError reaches the caller as null."""

    def validate_inputs(self, block_fn, inputs: list) -> None:
        if len(inputs) < len(block_fn.inputs):
            names = ", ".join(str(getattr(b, "label", None) or type(b).__name__) for b in block_fn.inputs)
            raise gr.Error(f"This call sent {len(inputs)} of the {len(block_fn.inputs)} values it takes "
                           f"({names}).", print_exception=False)
        super().validate_inputs(block_fn, inputs)


def build_api(studio: Studio, concurrency: int) -> None:
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
