"""Turn a raw job input (a dict from RunPod or the UI) into a checked SynthesisRequest.

Pure and fast: no weights, no G2P. Every mistake becomes an InputError with one sentence that
says what is wrong and what would be right. The handler and the UI both call `parse_request`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from worker.core.catalog import Catalog, Voice
from worker.core.errors import InputError, snippet
from worker.core.settings import max_text_chars
from worker.text import markup
from worker.text.normalize import clean

FORMATS = ("wav", "flac", "mp3", "ogg", "pcm")  # pcm: raw 16-bit little-endian, no header
FILE_FORMATS = FORMATS[:4]  # what a player opens by itself
SPEED_MIN, SPEED_MAX = 0.5, 2.0
FIELDS = ("text", "voice", "language", "speed", "split_sentences", "format", "timestamps", "captions",
          "delivery")
DELIVERIES = ("auto", "inline", "url")  # url: the audio goes to the bucket (worker/service/delivery.py)
CAPTIONS = ("srt", "vtt")
_VOICE_ID = re.compile(r"^[a-z]{2}_[a-z0-9]+$")


@dataclass(frozen=True)
class SynthesisRequest:
    text: str
    voices: tuple[tuple[Voice, float], ...]  # (voice, weight); weights sum to 1
    language: str  # canonical catalog code, e.g. "en-us"
    speed: float = 1.0
    split_sentences: bool = True
    format: str = "wav"
    removed_chars: int = 0  # control and invisible characters `clean` took out of the text
    timestamps: bool = False  # add each word's start and end
    captions: str | None = None  # "srt" or "vtt": add subtitles
    delivery: str = "auto"  # inline, url (a bucket's link), or auto: inline when it fits

    @property
    def timed(self) -> bool:
        """Word timings are needed (for themselves or for captions)."""
        return self.timestamps or self.captions is not None

    @property
    def model(self) -> str:
        return self.voices[0][0].model

    @property
    def voice_spec(self) -> str:
        """The voice as a user would write it: `af_heart` or `af_heart:0.7,af_bella:0.3`."""
        if len(self.voices) == 1:
            return self.voices[0][0].id
        return ",".join(f"{v.id}:{w:.3g}" for v, w in self.voices)

    @property
    def notes(self) -> list[str]:
        """Things worth telling the user about a valid request."""
        notes = []
        own = {v.language for v, _ in self.voices}
        if self.language not in own:
            ids = ", ".join(v.id for v, _ in self.voices)
            notes.append(f"Note: {ids} ({'/'.join(sorted(own))} voice) reads {self.language} text; "
                         "pronunciation follows the language, the accent may not.")
        if self.removed_chars:
            n = self.removed_chars
            notes.append(f"Note: {n} control or invisible character{'s were' if n > 1 else ' was'} "
                         "left out of the text (they cannot be spoken).")
        return notes


def _type_name(value: object) -> str:
    return {bool: "a boolean", int: "a number", float: "a number", str: "a string",
            list: "a list", dict: "an object", type(None): "null"}.get(type(value), type(value).__name__)


def parse_voice(spec: object, catalog: Catalog) -> tuple[tuple[Voice, float], ...]:
    """`af_heart`, or a blend `af_heart:0.7,af_bella:0.3` (weights normalised; default 1 each)."""
    if not isinstance(spec, str):
        raise InputError(f"'voice' must be a string such as \"af_heart\", not {_type_name(spec)}.")
    spec = spec.strip()
    if not spec:
        raise InputError("'voice' is empty; give a voice id such as \"af_heart\".")
    if "/" in spec or "\\" in spec or spec.endswith(".pt") or spec.startswith("."):
        raise InputError("'voice' must be a catalog voice id such as \"af_heart\", not a file path.")
    parts: list[tuple[Voice, float]] = []
    for part in spec.split(","):
        name, _, weight_text = part.strip().partition(":")
        name = name.strip().lower()
        voice = catalog.voice(name)
        if voice is None:
            if not _VOICE_ID.match(name):
                raise InputError(f"'{snippet(name)}' is not a voice id; ids look like \"af_heart\" or \"zf_001\".")
            close = catalog.similar_voices(name)
            hint = f" Did you mean {', '.join(close)}?" if close else ""
            raise InputError(f"Unknown voice '{snippet(name)}'.{hint}")
        try:
            weight = float(weight_text) if weight_text.strip() else 1.0
        except ValueError:
            raise InputError(f"The weight of '{snippet(name)}' in the voice blend is not a number.") from None
        if not math.isfinite(weight) or weight <= 0:
            raise InputError(f"The weight of '{snippet(name)}' in the voice blend must be a positive number.")
        parts.append((voice, weight))
    models = {v.model for v, _ in parts}
    if len(models) > 1:
        raise InputError("A voice blend must use voices of one model; "
                         f"this one mixes {' and '.join(sorted(models))}.")
    if len({v.id for v, _ in parts}) != len(parts):
        raise InputError("A voice blend names the same voice twice.")
    # Scale by the largest weight first: 1e308 + 1e308 would overflow to inf and turn every
    # weight into 0 (a silent blend); ratios are all that matter.
    largest = max(w for _, w in parts)
    scaled = [(v, w / largest) for v, w in parts]
    total = sum(w for _, w in scaled)
    return tuple((v, w / total) for v, w in scaled)


def parse_request(raw: object, catalog: Catalog) -> SynthesisRequest:
    """Check and normalise a job input. Unknown keys are refused (they are usually typos)."""
    if not isinstance(raw, dict):
        raise InputError(f"The input must be an object with a 'text' field, not {_type_name(raw)}.")
    extra = sorted(set(raw) - set(FIELDS))
    if extra:
        raise InputError(f"Unknown input field{'s' if len(extra) > 1 else ''} "
                         f"{', '.join(repr(k) for k in extra)}; accepted: {', '.join(FIELDS)}.")

    text = raw.get("text")
    if text is None:
        raise InputError("'text' is required.")
    if not isinstance(text, str):
        raise InputError(f"'text' must be a string, not {_type_name(text)}.")
    text, removed = clean(text)
    if not text.strip():
        raise InputError("'text' is empty; give some text to speak.")
    limit = max_text_chars()
    if len(text) > limit:
        raise InputError(f"'text' has {len(text):,} characters; the limit is {limit:,} "
                         "(KOKORO_MAX_TEXT_CHARS).")

    voices = parse_voice(raw.get("voice", "af_heart"), catalog)

    lang_raw = raw.get("language", "en-us")
    if not isinstance(lang_raw, str):
        raise InputError(f"'language' must be a string such as \"en-us\", not {_type_name(lang_raw)}.")
    language = catalog.language_code(lang_raw)
    if language is None:
        raise InputError(f"Unknown language '{snippet(lang_raw)}'; use one of {', '.join(catalog.languages)}.")
    model = catalog.models[voices[0][0].model]
    if language not in model.languages:
        raise InputError(f"Voice {voices[0][0].id} belongs to Kokoro {voices[0][0].model}, which "
                         f"speaks {', '.join(model.languages)}; it cannot read '{language}'.")

    speed = raw.get("speed", 1.0)
    if isinstance(speed, bool) or not isinstance(speed, (int, float)):
        raise InputError(f"'speed' must be a number from {SPEED_MIN} to {SPEED_MAX}, "
                         f"not {_type_name(speed)}.")
    if not (SPEED_MIN <= speed <= SPEED_MAX):  # also false for NaN
        raise InputError(f"'speed' must be from {SPEED_MIN} to {SPEED_MAX}; got {speed}.")

    split = raw.get("split_sentences", True)
    if not isinstance(split, bool):
        raise InputError(f"'split_sentences' must be true or false, not {_type_name(split)}.")

    fmt = raw.get("format", "wav")
    if not isinstance(fmt, str) or fmt.strip().lower() not in FORMATS:
        shown = fmt if isinstance(fmt, str) else _type_name(fmt)
        raise InputError(f"Unknown format '{snippet(shown)}'; use one of {', '.join(FORMATS)}.")

    timestamps = raw.get("timestamps", False)
    if not isinstance(timestamps, bool):
        raise InputError(f"'timestamps' must be true or false, not {_type_name(timestamps)}.")
    captions = raw.get("captions")
    if captions is not None and (not isinstance(captions, str) or captions.strip().lower() not in CAPTIONS):
        shown = captions if isinstance(captions, str) else _type_name(captions)
        raise InputError(f"Unknown captions '{snippet(shown)}'; use \"srt\" or \"vtt\" (or leave it out).")
    delivery = raw.get("delivery", "auto")
    if not isinstance(delivery, str) or delivery.strip().lower() not in DELIVERIES:
        shown = delivery if isinstance(delivery, str) else _type_name(delivery)
        raise InputError(f"Unknown delivery '{snippet(shown)}'; use \"auto\" (inline when it fits), \"inline\" or "
                         "\"url\" (a link to the bucket).")
    markup.parse(text)  # malformed [pause:…] or [word](/…/) is refused now, before any G2P

    return SynthesisRequest(text=text, voices=voices, language=language, speed=float(speed),
                            split_sentences=split, format=fmt.strip().lower(), removed_chars=removed,
                            timestamps=timestamps, captions=captions.strip().lower() if captions else None,
                            delivery=delivery.strip().lower())
