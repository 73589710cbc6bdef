"""The History tab: every clip this browser session made, newest first, to play again or download
(the list itself is ui/studio/history.py)."""

from __future__ import annotations

import gradio as gr

from ui.studio import history


def build(past: gr.State) -> None:
    gr.Markdown("Everything generated in this browser session, newest first: play it again or download it. "
                f"The newest {history.HISTORY_MAX} are kept.")

    @gr.render(inputs=past)
    def entries(items: list[dict]):
        if not items:
            gr.Markdown("Nothing yet.", elem_id="history-empty")
        for item in items:
            if not history.playable(item):
                gr.Markdown(f"{history.label(item)} · {history.EXPIRED}", elem_classes=["expired"])
                continue
            gr.Audio(item["path"], label=history.label(item), type="filepath", interactive=False,
                     buttons=["download"])
