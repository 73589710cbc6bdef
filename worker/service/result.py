"""The result contract: what one synthesis produced, and its one conversion to and from the
worker's output.

The engine fills a `Result`; the handler writes it out with `Result.output` (the streaming handler
each chunk with `chunk_output`); the studio's RunPod backend reads it back with `Result.from_output`
and its local backend uses the engine's `Result` as is. A new output field is added here and where
the engine fills it, nowhere else. Fields of a finished job's output, in order: OUTPUT_FIELDS.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

from worker.core.errors import KokoroError, counted
from worker.sound.captions import Word

SAMPLE_RATE = 24_000
OUTPUT_FIELDS = ("audio_base64", "message", "notes", "sample_rate", "duration_s", "format", "model",
                 "voice", "language", "chunks", "words", "captions")  # the last two when asked for
CHUNK_FIELDS = ("chunk", "text", "phonemes", "audio_base64", "format", "sample_rate", "duration_s", "note",
                "words", "part", "parts")  # part/parts: a long chunk cut to fit RunPod's 1 MB per item
# A result too big to return inline (worker/service/delivery.py) carries these instead of audio_base64.
LINK_FIELDS = ("audio_url", "audio_url_expires_at", "captions_url", "captions_url_expires_at")


class OutputError(KokoroError):
    """A worker's output that is not a Kokoro result (an error, no audio, another worker)."""


@dataclass(frozen=True)
class ChunkInfo:
    """One spoken chunk: its text, the phonemes the model read, its length with the pause before it,
    and a note when its phonemes looked too few for its text."""

    text: str
    phonemes: str
    duration_s: float
    note: str = ""
    words: tuple[Word, ...] | None = None  # times from the chunk's start (its pause included)

    def output(self) -> dict:
        return {"text": self.text, "phonemes": self.phonemes, "duration_s": round(self.duration_s, 3),
                **({"note": self.note} if self.note else {})}

    @classmethod
    def from_output(cls, raw: object) -> ChunkInfo | None:
        if not isinstance(raw, dict):
            return None
        return cls(str(raw.get("text", "")), str(raw.get("phonemes", "")), _seconds(raw.get("duration_s")),
                   str(raw.get("note", "")))


@dataclass(frozen=True)
class Result:
    """A finished synthesis, apart from its audio: who spoke it, how long, in which chunks, what
    the user should know (notes), and how long it took (model time locally; submit-to-result on
    RunPod)."""

    model: str
    voice: str
    language: str
    duration_s: float
    chunks: tuple[ChunkInfo, ...] = ()
    notes: tuple[str, ...] = ()
    elapsed_s: float = 0.0
    sample_rate: int = SAMPLE_RATE
    words: tuple[Word, ...] | None = None  # over the whole audio; None: timings not asked for
    captions: str | None = None  # SRT or WebVTT text, when asked for

    @property
    def phonemes(self) -> str:
        return " ".join(c.phonemes for c in self.chunks)

    def message(self) -> str:
        """'Synthesized 1.90 s of audio with af_heart (en-us, Kokoro v1.0) in 1 chunk.' plus any notes."""
        n = len(self.chunks)
        head = (f"Synthesized {self.duration_s:.2f} s of audio with {self.voice} ({self.language}, "
                f"Kokoro {self.model}) in {counted(n, 'chunk')}.")
        return " ".join([head, *self.notes])

    def output(self, data: bytes, fmt: str) -> dict:
        """The handler's output for this result and its encoded audio."""
        values = {"audio_base64": _b64(data), "message": self.message(), "notes": list(self.notes),
                  "sample_rate": self.sample_rate, "duration_s": round(self.duration_s, 3), "format": fmt,
                  "model": self.model, "voice": self.voice, "language": self.language,
                  "chunks": [c.output() for c in self.chunks],
                  "words": None if self.words is None else words_output(self.words),
                  "captions": self.captions}
        return {name: values[name] for name in OUTPUT_FIELDS if values[name] is not None}

    @classmethod
    def from_output(cls, output: object, fallback: Result, elapsed_s: float, fmt: str = "wav",
                    linked_audio: bytes | None = None) -> tuple[Result, bytes, str]:
        """A worker's output read back: (result, audio bytes, format). Missing metadata falls back to
        what was asked for (`fallback`, `fmt`); missing audio or an error is an OutputError. An output
        with `audio_url` needs its audio fetched by the caller (`linked_audio`)."""
        if not isinstance(output, dict) or output.get("error"):
            raise OutputError("The RunPod worker reported an error instead of audio.")
        try:
            data = linked_audio if linked_audio is not None else base64.b64decode(output["audio_base64"],
                                                                                  validate=True)
        except (KeyError, TypeError, ValueError):
            raise OutputError("The RunPod worker sent no audio. Is the endpoint running the Kokoro "
                              "worker without KOKORO_STREAM?") from None
        chunks = output.get("chunks") if isinstance(output.get("chunks"), list) else []
        notes = output.get("notes") if isinstance(output.get("notes"), list) else []
        result = cls(model=str(output.get("model", fallback.model)), voice=str(output.get("voice", fallback.voice)),
                     language=str(output.get("language", fallback.language)),
                     duration_s=_seconds(output.get("duration_s")),
                     chunks=tuple(c for c in map(ChunkInfo.from_output, chunks) if c is not None),
                     notes=tuple(str(n) for n in notes), elapsed_s=elapsed_s,
                     words=words_from_output(output.get("words")),
                     captions=output["captions"] if isinstance(output.get("captions"), str) else None)
        return result, data, str(output.get("format") or fmt)


def linked(output: dict, audio, captions=None) -> dict:
    """`output` with its audio (and captions file) in a bucket: audio_base64 gives way to the link
    fields (worker/service/bucket.py `Link`), in its place; every other field stays."""
    out: dict = {}
    for name, value in output.items():
        if name == "audio_base64":
            out.update(audio.fields("audio"))
            if captions is not None:
                out.update(captions.fields("captions"))
        else:
            out[name] = value
    return out


def chunk_output(index: int, chunk: ChunkInfo, data: bytes, fmt: str, start_s: float = 0.0) -> dict:
    """One item of the streaming handler's output: a chunk and its own audio file; its words (when
    asked for) timed from the start of the whole job, the chunk starting at `start_s`."""
    values = {"chunk": index, **chunk.output(), "audio_base64": _b64(data), "format": fmt,
              "sample_rate": SAMPLE_RATE}
    if chunk.words is not None:
        values["words"] = words_output(shifted(chunk.words, start_s))
    return {name: values[name] for name in CHUNK_FIELDS if name in values}


def shifted(words: tuple[Word, ...], by_s: float) -> tuple[Word, ...]:
    return tuple(Word(w.text, w.start_s + by_s, w.end_s + by_s) for w in words)


def words_output(words: tuple[Word, ...]) -> list[dict]:
    return [{"text": w.text, "start_s": round(w.start_s, 3), "end_s": round(w.end_s, 3)} for w in words]


def words_from_output(raw: object) -> tuple[Word, ...] | None:
    """A worker's "words" read back; None when it sent none, entries that are not words skipped."""
    if not isinstance(raw, list):
        return None
    return tuple(Word(str(w.get("text", "")), _seconds(w.get("start_s")), _seconds(w.get("end_s")))
                 for w in raw if isinstance(w, dict))


def _seconds(value: object) -> float:
    """A duration from a worker's JSON; 0.0 when it is missing or not a number."""
    try:
        return float(value or 0.0)
    except (TypeError, ValueError):
        return 0.0


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
