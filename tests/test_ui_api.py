"""The studio's public API, as a script uses it: gradio_client against `python ui/app.py` (stand-in
weights). Any catalog voice and language, plain fields back, the worker's sentences as errors."""

from __future__ import annotations

import pytest
import soundfile as sf
from gradio_client import Client
from gradio_client.exceptions import AppError


@pytest.fixture(scope="module")
def client(local_studio):
    return Client(local_studio.url, verbose=False)


def test_the_endpoint_is_documented_with_plain_parameters(client):
    info = client.view_api(print_info=False, return_format="dict")["named_endpoints"]["/generate"]
    assert [p["parameter_name"] for p in info["parameters"]] == [
        "text", "voice", "language", "speed", "split_sentences", "format"]
    assert [r["label"] for r in info["returns"]] == ["audio", "duration_s", "phonemes", "message"]
    named = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert sorted(named) == ["/create_test", "/generate", "/test_results"]  # the page's own events are private
    assert [p["parameter_name"] for p in named["/create_test"]["parameters"]] == ["name", "language", "sentences",
                                                                                 "voices"]


@pytest.mark.parametrize("text, voice, language, fmt", [
    ("你好，世界。", "zf_xiaoxiao", "zh", "wav"),  # a voice no dropdown offers at first
    ("你好，世界。", "zf_001", "zh", "flac"),  # the v1.1-zh model
    ("Hello there. And again.", "bf_emma:0.5,af_heart:0.5", "en-gb", "mp3"),  # a blend
])
def test_any_catalog_voice_and_language_gives_a_file_and_plain_fields(client, text, voice, language, fmt):
    path, duration_s, phonemes, message = client.predict(text, voice, language, 1.0, True, fmt,
                                                         api_name="/generate")
    info = sf.info(path)
    assert path.endswith(f".{fmt}") and info.samplerate == 24000
    assert isinstance(duration_s, float) and abs(info.duration - duration_s) < 0.05
    assert phonemes.strip() and message.startswith(f"Synthesized {duration_s:.2f} s of audio with")
    assert f"({language}, Kokoro" in message


@pytest.mark.hostile
def test_a_bad_request_is_the_workers_sentence(client):
    with pytest.raises(AppError, match="Unknown voice 'af_nobody'"):
        client.predict("Hi.", "af_nobody", "en-us", 1.0, True, "wav", api_name="/generate")
    with pytest.raises(AppError, match="speed"):
        client.predict("Hi.", "af_heart", "en-us", 9.0, True, "wav", api_name="/generate")
    path, *_ = client.predict(text="Still here.", api_name="/generate")  # defaults for the rest
    assert sf.info(path).duration > 0.2


def test_a_program_creates_a_listening_test_and_reads_its_results(client):
    link = client.predict("Product voice", "en-us", "The boat drifted.\nA quiet lake.", "af_heart,am_adam,bf_emma",
                          api_name="/create_test")
    assert "/?test=" in link and link.startswith("http://127.0.0.1:")
    results = client.predict(link, api_name="/test_results")
    assert results["test"]["voices"] == ["af_heart", "am_adam", "bf_emma"] and results["ratings"] == []
    assert results["progress"] == {"raters": 0, "votes": 0, "pairs_left": 0}
    with pytest.raises(AppError, match="A test compares at least two voices."):
        client.predict("Solo", "en-us", "Hi.", "af_heart", api_name="/create_test")
    with pytest.raises(AppError, match="is not a test id or link"):
        client.predict("../etc", api_name="/test_results")
