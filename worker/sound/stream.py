"""Audio files written while they are spoken: each chunk's samples go in, the bytes of the file so
far come out, so an HTTP response can send the first sentence before the second is made.

pcm is raw 16-bit little-endian 24 kHz mono. wav is the same after a header whose sizes say
"unknown" (0xFFFFFFFF: players and ffmpeg read to the end of the stream). mp3 and ogg (Opus) come
from libsndfile writing into memory. What it writes at the close to fix up bytes already sent is
dropped: Ogg needs none; an mp3's first frame stays the silent frame reserved for its LAME tag, and
the mp3 is constant-bitrate (64 kb/s) because readers without the tag (libsndfile) take the length
from the first frame's bitrate and would stop a variable-rate stream early. flac is not streamed: its sample count sits in a header sent first, and
several readers refuse a flac without it.
"""

from __future__ import annotations

import io
import struct

import numpy as np
import soundfile as sf

from worker.sound.audio import SAMPLE_RATE, soundfile_format

STREAMABLE = ("pcm", "wav", "mp3", "ogg")
_UNKNOWN = 0xFFFFFFFF


def pcm16(audio: np.ndarray) -> bytes:
    return (np.clip(np.asarray(audio, dtype=np.float32), -1.0, 1.0) * 32767).astype("<i2").tobytes()


def wav_header(sample_rate: int = SAMPLE_RATE) -> bytes:
    """A 16-bit mono WAV header for a stream whose length is not known yet."""
    return (b"RIFF" + struct.pack("<I", _UNKNOWN) + b"WAVEfmt "
            + struct.pack("<IHHIIHH", 16, 1, 1, sample_rate, sample_rate * 2, 2, 16)
            + b"data" + struct.pack("<I", _UNKNOWN))


class _Tape(io.RawIOBase):
    """A write-only file for libsndfile that hands out each new byte once; seeks back (header
    fix-ups) land on bytes already handed out and are ignored."""

    def __init__(self) -> None:
        self._buf = io.BytesIO()
        self._sent = 0

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readable(self) -> bool:
        return True

    def write(self, data) -> int:
        return self._buf.write(data)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return self._buf.seek(offset, whence)

    def tell(self) -> int:
        return self._buf.tell()

    def read(self, size: int = -1) -> bytes:
        return self._buf.read(size)

    def take(self) -> bytes:
        """The bytes written since the last call."""
        end = self._buf.getbuffer().nbytes
        data = bytes(self._buf.getbuffer()[self._sent:end])
        self._sent = end
        return data


class StreamEncoder:
    """`feed(samples)` returns the file's next bytes; `close()` its last ones."""

    def __init__(self, fmt: str, sample_rate: int = SAMPLE_RATE):
        if fmt not in STREAMABLE:
            raise ValueError(f"{fmt} cannot be streamed")
        self.fmt, self.sample_rate = fmt, sample_rate
        self._tape: _Tape | None = None
        self._file: sf.SoundFile | None = None
        self._started = False
        if fmt not in ("pcm", "wav"):
            container, subtype = soundfile_format(fmt)
            self._tape = _Tape()
            cbr = {"bitrate_mode": "CONSTANT", "compression_level": 0.6} if fmt == "mp3" else {}  # 64 kb/s
            self._file = sf.SoundFile(self._tape, "w", sample_rate, 1, format=container, subtype=subtype, **cbr)

    def feed(self, audio: np.ndarray) -> bytes:
        if self._file is None:
            head = wav_header(self.sample_rate) if self.fmt == "wav" and not self._started else b""
            self._started = True
            return head + pcm16(audio)
        self._file.write(np.clip(np.asarray(audio, dtype=np.float32), -1.0, 1.0))
        return self._tape.take()

    def close(self) -> bytes:
        if self._file is None:
            return b"" if self._started or self.fmt == "pcm" else wav_header(self.sample_rate)
        self._file.close()
        return self._tape.take()
