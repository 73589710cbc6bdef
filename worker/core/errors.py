"""Domain errors. Each carries one sentence meant for the user; the edges (handler, UI) show it.
Also the two helpers those sentences (and the UI's summaries) are written with."""


class KokoroError(Exception):
    """Base of every error whose message is safe and useful to show a user."""


class InputError(KokoroError):
    """The request itself is wrong (bad text, voice, language, speed, format...)."""


class CatalogError(KokoroError):
    """voices.yaml is broken; start-up stops with this message."""


class ModelUnavailableError(KokoroError):
    """Weights, config or a voice pack are not in the Hugging Face cache and cannot be fetched."""


class SettingsError(KokoroError):
    """A worker setting (environment variable) is unusable; the worker does not start."""


def snippet(text: str, limit: int = 40) -> str:
    """User text quoted in an error: one line, at most `limit` characters (a 100 KB voice id or a
    pasted page is not echoed whole)."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


def counted(n: int, noun: str) -> str:
    """'1 voice', '3 voices', '0 chunks': a count with its (regularly pluralised) noun."""
    return f"{n} {noun}{'' if n == 1 else 's'}"
