"""What the page tells the user: status lines, and errors at the edge. A domain error becomes a
toast with its own sentence; anything else is logged with its traceback on the server and shown
as one plain sentence."""

from __future__ import annotations

import html
import logging
from collections.abc import Iterator
from contextlib import contextmanager

import gradio as gr

from worker.core.errors import KokoroError

log = logging.getLogger("kokoro.ui")

UNEXPECTED = "Something went wrong while synthesizing; the server log has the details."


def message(exc: BaseException, prefix: str = "") -> str:
    # The toast renders HTML; the message may quote user input (an unknown voice id).
    return html.escape(prefix + str(exc), quote=False)


@contextmanager
def as_toast(title: str = "Cannot synthesize") -> Iterator[None]:
    try:
        yield
    except gr.Error:
        raise
    except KokoroError as exc:
        raise gr.Error(message(exc), title=title, print_exception=False) from None
    except Exception:
        log.exception("A studio action failed")
        raise gr.Error(UNEXPECTED, print_exception=False) from None


def status(text: str, kind: str = "busy") -> str:
    """A status line; `kind` (busy, idle, done, error, stopped) picks its colour in the CSS."""
    return f'<div class="status status-{kind}">{html.escape(text, quote=False)}</div>'
