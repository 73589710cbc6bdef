"""The result contract (worker/service/result.py): one shape for a result, written by the handler and read
back by the studio's RunPod backend, on a real engine's output."""

from __future__ import annotations

import base64

import pytest

from worker.service.request import parse_request
from worker.service.result import (
    OUTPUT_FIELDS,
    ChunkInfo,
    OutputError,
    Result,
    chunk_output,
)
from worker.sound.captions import Word


def _result(**changes) -> Result:
    base = dict(model="v1.0", voice="af_heart", language="en-us", duration_s=1.5,
                chunks=(ChunkInfo("Hi.", "hˈI.", 0.7), ChunkInfo("Bye.", "bˈI.", 0.8, "Note: chunk 2 …")),
                notes=("Note: 2 characters were left out.", "Note: chunk 2 …"), elapsed_s=0.4)
    return Result(**{**base, **changes})


WORDS = (Word("Hi.", 0.05, 0.5), Word("Bye.", 0.9, 1.3))


def test_the_output_has_the_documented_fields_in_order_and_reads_back_the_same():
    timed = _result(words=WORDS, captions="WEBVTT\n\n")
    output = timed.output(b"RIFF....", "wav")
    assert tuple(output) == OUTPUT_FIELDS
    assert output["words"][1] == {"text": "Bye.", "start_s": 0.9, "end_s": 1.3}
    assert Result.from_output(output, _result(), elapsed_s=0.4)[0] == timed
    result = _result()
    output = result.output(b"RIFF....", "wav")
    assert tuple(output) == OUTPUT_FIELDS[:-2]  # words and captions only when asked for
    assert output["notes"] == list(result.notes) and output["message"].endswith(" ".join(result.notes))
    assert output["chunks"][1] == {"text": "Bye.", "phonemes": "bˈI.", "duration_s": 0.8, "note": "Note: chunk 2 …"}
    assert "note" not in output["chunks"][0]  # only a flagged chunk carries one
    back, data, fmt = Result.from_output(output, _result(voice="asked"), elapsed_s=2.0)
    assert (data, fmt) == (b"RIFF....", "wav")
    assert back == _result(elapsed_s=2.0)  # every field survives the trip; the time is the caller's


@pytest.mark.hostile
def test_an_older_worker_without_notes_and_a_broken_output():
    output = _result().output(b"x", "mp3")
    del output["notes"], output["voice"]
    back, _, fmt = Result.from_output(output, _result(voice="asked"), 1.0, fmt="ogg")
    assert back.notes == () and back.voice == "asked" and fmt == "mp3"  # what was asked stands in
    with pytest.raises(OutputError, match="reported an error"):
        Result.from_output({"error": "boom"}, _result(), 1.0)
    with pytest.raises(OutputError, match="sent no audio"):
        Result.from_output({"message": "hi", "audio_base64": "not base64!"}, _result(), 1.0)


def test_a_stream_item_is_a_chunk_and_its_own_file():
    item = chunk_output(3, ChunkInfo("Hi.", "hˈI.", 0.7), b"abc", "flac")
    assert item == {"chunk": 3, "text": "Hi.", "phonemes": "hˈI.", "audio_base64": base64.b64encode(b"abc").decode(),
                    "format": "flac", "sample_rate": 24_000, "duration_s": 0.7}


def test_a_stream_item_carries_its_words_timed_from_the_start_of_the_job():
    item = chunk_output(1, ChunkInfo("Bye.", "bˈI.", 0.8, words=(Word("Bye.", 0.35, 0.7),)), b"abc", "wav", 2.5)
    assert item["words"] == [{"text": "Bye.", "start_s": 2.85, "end_s": 3.2}]


def test_the_engine_fills_the_contract(engine, catalog):
    request = parse_request({"text": "One. Two.", "voice": "af_heart"}, catalog)
    synthesis = engine.synthesize(request)
    result = synthesis.result
    assert [c.text for c in result.chunks] == ["One.", "Two."]
    assert abs(sum(c.duration_s for c in result.chunks) - result.duration_s) < 1e-6  # the chunks tile the audio
    assert result.duration_s == len(synthesis.audio) / 24_000 and result.elapsed_s > 0
    output = result.output(synthesis.encode("wav"), "wav")
    assert Result.from_output(output, result, result.elapsed_s)[0].chunks == tuple(
        ChunkInfo(c.text, c.phonemes, round(c.duration_s, 3)) for c in result.chunks)
