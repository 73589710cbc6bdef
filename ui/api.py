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


def build_api(studio: Studio, concurrency: int) -> None:
    with gr.Group(visible=False):
        inputs = [gr.Textbox(label="text"), gr.Textbox("af_heart", label="voice"),
                  gr.Textbox("en-us", label="language"), gr.Number(1.0, label="speed"),
                  gr.Checkbox(True, label="split_sentences"), gr.Textbox("wav", label="format")]
        outputs = [gr.File(label="audio"), gr.Number(label="duration_s"), gr.Textbox(label="phonemes"),
                   gr.Textbox(label="message")]
        trigger = gr.Button(visible=False)
    trigger.click(studio.api_generate, inputs, outputs, api_name="generate", api_visibility="public",
                  concurrency_limit=concurrency, concurrency_id="synthesis")
