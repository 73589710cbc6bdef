"""The HTTP server on real speech, through the official `openai` client, heard by an offline
Whisper: whole answers, streamed answers (first bytes early), Japanese with its own voice."""

import io
import time

import numpy as np
import openai
import pytest
import soundfile as sf

from tests.conftest import worker_env
from tests.helpers_server import http_server
from tests.realspeech.hearing import assert_heard
from tests.realspeech.texts import EN_SHORT, JA_SHORT

pytestmark = pytest.mark.real_weights

EN_FOUR = ("The little boat drifted slowly across the quiet lake. Then the sun went down behind the hills. "
           "A cold wind came over the water. We rowed home before it was dark.")


@pytest.fixture(scope="module")
def client(real_hf_home, tmp_path_factory):
    env = worker_env(HF_HOME=str(real_hf_home), KOKORO_MODELS="v1.0")
    with http_server(env, tmp_path_factory.mktemp("real-server")) as server:
        yield openai.OpenAI(base_url=server.v1, api_key="unused", max_retries=0)


def test_the_openai_client_hears_english_and_japanese(client, recogniser):
    wav = client.audio.speech.create(model="kokoro", voice="af_heart", input=EN_SHORT, response_format="wav")
    audio, rate = sf.read(io.BytesIO(wav.content), dtype="float32")
    assert_heard(recogniser, audio, EN_SHORT, "en", sample_rate=rate)
    mp3 = client.audio.speech.create(model="tts-1", voice="jf_nezumi", input=JA_SHORT, response_format="mp3")
    audio, rate = sf.read(io.BytesIO(mp3.content), dtype="float32")  # the voice's language: no field needed
    assert_heard(recogniser, audio, JA_SHORT, "ja", sample_rate=rate)


def test_streamed_speech_starts_after_the_first_sentence_and_says_everything(client, recogniser):
    started, arrivals, data = time.perf_counter(), [], bytearray()
    with client.audio.speech.with_streaming_response.create(model="kokoro", voice="af_heart", input=EN_FOUR,
                                                            response_format="pcm") as response:
        for piece in response.iter_bytes():
            arrivals.append(time.perf_counter() - started)
            data += piece
    # Four sentences, one chunk each: the first bytes come after one (measured 0.23 of the whole).
    assert arrivals[0] < 0.5 * arrivals[-1], (arrivals[0], arrivals[-1])
    audio = np.frombuffer(bytes(data), dtype="<i2").astype(np.float32) / 32767
    assert_heard(recogniser, audio, EN_FOUR, "en")
