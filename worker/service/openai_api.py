"""OpenAI's speech API in our terms. A `POST /v1/audio/speech` body becomes a queue job's input, so
the one request parser (worker/service/request.py) checks it with the same sentences; our errors
become OpenAI's error shape, `{"error": {"message", "type", "param", "code"}}`.

OpenAI fields: model, input, voice, response_format (mp3, opus, flac, wav, pcm; aac is refused by
name: no encoder without system packages), speed, stream. Ours, as extensions: language (default:
the voice's own), split_sentences, and for the captioned route captions (srt or vtt).
"""

from __future__ import annotations

import re

from worker.core.catalog import Catalog
from worker.core.errors import InputError, snippet
from worker.service.request import FIELDS

# response_format -> our format; OpenAI's opus is Ogg Opus, our "ogg"
FORMATS = {"mp3": "mp3", "opus": "ogg", "flac": "flac", "wav": "wav", "pcm": "pcm"}
MEDIA_TYPES = {"mp3": "audio/mpeg", "opus": "audio/ogg", "flac": "audio/flac", "wav": "audio/wav", "pcm": "audio/pcm"}
STREAMED_BY_DEFAULT = ("pcm", "mp3", "opus")
# OpenAI's model names and ours: any of them speaks with the model of the voice asked for.
MODEL_ALIASES = ("kokoro", "tts-1", "tts-1-hd", "gpt-4o-mini-tts")
SPEECH_FIELDS = ("model", "input", "voice", "response_format", "speed", "stream", "language", "split_sentences")
CAPTIONED_FIELDS = (*SPEECH_FIELDS, "captions")
_OURS_TO_OPENAI = {"text": "input", "format": "response_format"}
_WEIGHTED = re.compile(r"^\s*([A-Za-z0-9_]+)\s*(?:\(\s*([^()]*)\s*\))?\s*$")


class ApiError(Exception):
    """An answer other than audio: HTTP status, OpenAI error fields, extra headers."""

    def __init__(self, status: int, message: str, param: str | None = None, code: str | None = None,
                 kind: str = "invalid_request_error", headers: dict | None = None):
        super().__init__(message)
        self.status, self.param, self.code, self.kind, self.headers = status, param, code, kind, headers or {}

    def body(self) -> dict:
        return error_body(str(self), self.kind, self.param, self.code)


def error_body(message: str, kind: str = "invalid_request_error", param: str | None = None,
               code: str | None = None) -> dict:
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def param_of(exc: InputError) -> str | None:
    """The OpenAI field an InputError is about, from the field its sentence names first."""
    message = str(exc)
    named = re.search(r"'(\w+)'", message)
    if named and named.group(1) in FIELDS:
        return _OURS_TO_OPENAI.get(named.group(1), named.group(1))
    for word, param in (("voice", "voice"), ("format", "response_format"), ("language", "language"),
                        ("pronunciation", "input"), ("markup", "input"), ("pause", "input")):
        if word in message.lower():
            return param
    return None


def blend(voice: object) -> object:
    """Kokoro-FastAPI's `af_bella(2)+af_sky(1)` (or `af_bella+af_sky`) as our `af_bella:2,af_sky:1`."""
    if not isinstance(voice, str) or "+" not in voice and "(" not in voice:
        return voice
    parts = []
    for part in voice.split("+"):
        match = _WEIGHTED.match(part)
        if not match:
            raise InputError(f"'{snippet(part.strip())}' in the voice blend is not a voice or voice(weight); "
                             "write af_bella(2)+af_sky(1).")
        parts.append(match.group(1) + (f":{match.group(2)}" if match.group(2) else ""))
    return ",".join(parts)


def to_job(body: object, catalog: Catalog, captioned: bool = False) -> tuple[dict, str, bool]:
    """(the queue job's input, the response_format, stream?) for a speech request body."""
    if not isinstance(body, dict):
        raise ApiError(400, "The body must be a JSON object such as {\"model\": \"kokoro\", \"input\": \"Hello\", "
                            "\"voice\": \"af_heart\"}.")
    accepted = CAPTIONED_FIELDS if captioned else SPEECH_FIELDS
    extra = sorted(set(body) - set(accepted))
    if extra:
        raise ApiError(400, f"Unknown field{'s' if len(extra) > 1 else ''} {', '.join(map(repr, extra))}; "
                            f"accepted: {', '.join(accepted)}.", param=extra[0])
    fmt = body.get("response_format", "mp3")
    if fmt == "aac":
        raise ApiError(400, "response_format 'aac' is not offered: no AAC encoder ships without system "
                            f"packages; use one of {', '.join(FORMATS)}.", param="response_format")
    if fmt not in FORMATS:
        shown = fmt if isinstance(fmt, str) else type(fmt).__name__
        raise ApiError(400, f"Unknown response_format '{snippet(str(shown))}'; use one of {', '.join(FORMATS)}.",
                       param="response_format")
    voice = blend(body.get("voice", "af_heart"))
    _check_model(body.get("model", "kokoro"), voice, catalog)
    job = {"text": body.get("input"), "voice": voice, "format": FORMATS[fmt]}
    if "input" not in body:
        raise ApiError(400, "'input' is required: the text to speak.", param="input")
    job["language"] = body["language"] if "language" in body else _own_language(voice, catalog)
    for name in ("speed", "split_sentences", "captions"):
        if name in body:
            job[name] = body[name]
    if captioned:
        job["timestamps"] = True
        job.setdefault("captions", "vtt")
    stream = body.get("stream", fmt in STREAMED_BY_DEFAULT and not captioned)
    if not isinstance(stream, bool):
        raise ApiError(400, "'stream' must be true or false.", param="stream")
    if stream and (captioned or fmt == "flac"):
        what = "The captioned route" if captioned else "flac"
        raise ApiError(400, f"{what} cannot be streamed (its header needs the whole length); leave 'stream' "
                            "out or use pcm, mp3, opus or wav.", param="stream")
    return job, fmt, stream


def _first_voice(voice: object, catalog: Catalog):
    """The catalog voice a (blend) spec starts with, or None (the parser then says what is wrong)."""
    if not isinstance(voice, str):
        return None
    return catalog.voice(voice.split(",")[0].partition(":")[0].strip().lower())


def _own_language(voice: object, catalog: Catalog) -> str:
    """The language of the (first) voice, so `af_heart` reads English and `jf_alpha` Japanese."""
    found = _first_voice(voice, catalog)
    return found.language if found else "en-us"


def _check_model(model: object, voice: object, catalog: Catalog) -> None:
    if model in MODEL_ALIASES:
        return
    if not isinstance(model, str) or model not in catalog.models:
        shown = model if isinstance(model, str) else type(model).__name__
        raise ApiError(400, f"Unknown model '{snippet(str(shown))}'; use {', '.join(model_ids(catalog))}.",
                       param="model", code="model_not_found")
    first = _first_voice(voice, catalog)
    if first is not None and first.model != model:
        raise ApiError(400, f"Voice {first.id} belongs to Kokoro {first.model}, not {model}.", param="model")


def model_ids(catalog: Catalog) -> list[str]:
    return ["kokoro", *catalog.models]


def models_body(catalog: Catalog) -> dict:
    return {"object": "list", "data": [{"id": name, "object": "model", "created": 1735689600, "owned_by": "hexgrad"}
                                       for name in model_ids(catalog)]}


def voices_body(catalog: Catalog) -> dict:
    return {"object": "list", "voices": [
        {"id": v.id, "name": v.id, "language": v.language, "gender": v.gender, "grade": v.grade, "model": v.model,
         "traits": v.traits} for v in catalog.voices]}
