"""The HTTP server (`python worker/server.py`) through the official `openai` client and raw HTTP,
on the stand-in weights (the audio is noise; tests/test_real_server.py hears real speech)."""

import io
import json
import re
import threading
import time

import openai
import pytest
import requests
import soundfile as sf
import srt

from tests.conftest import worker_env
from tests.helpers_process import free_port
from tests.helpers_server import http_server

KEY = "sk-kokoro-test-0123456789"
SENTENCES = " ".join(f"Sentence number {n} is here." for n in range(1, 13))


HEALTH_PORT = free_port()


@pytest.fixture(scope="module")
def server(standin_hf_home, tmp_path_factory):
    env = worker_env(KOKORO_MODELS="v1.0", KOKORO_API_KEY=KEY, KOKORO_MAX_WAITING="0", KOKORO_CONCURRENCY="1",
                     PORT_HEALTH=str(HEALTH_PORT))
    with http_server(env, tmp_path_factory.mktemp("server")) as running:
        yield running


@pytest.fixture
def client(server):
    return openai.OpenAI(base_url=server.v1, api_key=KEY, max_retries=0)


def _auth() -> dict:
    return {"Authorization": f"Bearer {KEY}"}


def test_ping_is_204_while_models_load_then_200(server):
    assert server.pings[-1] == 200
    assert 204 in server.pings, server.pings  # the model loads in the background after the port opens
    assert set(server.pings) == {200, 204} and server.pings.index(200) == len(server.pings) - 1
    assert requests.get(f"{server.url}/ping").json() == {"status": "healthy"}  # no key asked for /ping
    health = f"http://127.0.0.1:{HEALTH_PORT}"  # RunPod's PORT_HEALTH: /ping there too, nothing else
    assert requests.get(f"{health}/ping").status_code == 200
    assert requests.get(f"{health}/v1/models").status_code == 404


@pytest.mark.parametrize("fmt", ["wav", "mp3", "opus", "flac"])
def test_the_openai_client_gets_audio_in_each_format(client, fmt):
    speech = client.audio.speech.create(model="kokoro", voice="af_heart", input="Hello there, world.",
                                        response_format=fmt)
    audio, rate = sf.read(io.BytesIO(speech.content))
    assert rate in (24_000, 48_000) and len(audio) / rate > 0.3


def test_pcm_is_raw_16_bit_and_a_blend_in_kokoro_fastapis_form_speaks(client):
    pcm = client.audio.speech.create(model="tts-1", voice="af_bella(2)+af_sky(1)", input="Hello there.",
                                     response_format="pcm").content
    wav = client.audio.speech.create(model="tts-1", voice="af_bella:2,af_sky:1", input="Hello there.",
                                     response_format="wav").content
    samples, _ = sf.read(io.BytesIO(wav), dtype="int16")
    assert len(pcm) == 2 * len(samples)  # the same audio, headerless


def test_streamed_bytes_arrive_long_before_the_whole_answer(client):
    started, arrivals, size = time.perf_counter(), [], 0
    with client.audio.speech.with_streaming_response.create(model="kokoro", voice="af_heart", input=SENTENCES,
                                                            response_format="pcm") as response:
        assert response.headers.get("transfer-encoding") == "chunked"
        for piece in response.iter_bytes():
            arrivals.append(time.perf_counter() - started)
            size += len(piece)
    total = arrivals[-1]
    # 12 sentences, one chunk each: the first bytes leave after the first (measured ~0.1 of the total)
    assert arrivals[0] < 0.5 * total, (arrivals[0], total)
    assert size % 2 == 0 and size / 48_000 > 6  # 16-bit samples, every sentence


def test_a_streamed_mp3_and_wav_decode_to_the_whole_text(client):
    for fmt, stream_default in (("mp3", True), ("wav", False)):
        with client.audio.speech.with_streaming_response.create(
                model="kokoro", voice="af_heart", input="One two. Three four. Five six.", response_format=fmt,
                extra_body={"stream": True}) as response:
            data = response.read()
        audio, rate = sf.read(io.BytesIO(data))
        assert len(audio) / rate > 1.0, fmt


def test_models_and_voices_are_listed(client, server, catalog):
    assert {"kokoro", "v1.0", "v1.1-zh"} <= {m.id for m in client.models.list()}
    voices = requests.get(f"{server.v1}/audio/voices", headers=_auth()).json()["voices"]
    assert len(voices) == len(catalog.voices)
    heart = next(v for v in voices if v["id"] == "af_heart")
    assert heart | {} == {**heart, "language": "en-us", "gender": "female", "model": "v1.0", "grade": "A"}


@pytest.mark.hostile
def test_a_bad_voice_is_a_400_naming_it_in_openais_shape(client):
    with pytest.raises(openai.BadRequestError) as caught:
        client.audio.speech.create(model="kokoro", voice="af_nope", input="Hi")
    error = caught.value.response.json()["error"]
    assert error["param"] == "voice" and error["type"] == "invalid_request_error"
    assert error["message"].startswith("Unknown voice 'af_nope'. Did you mean")


@pytest.mark.hostile
def test_a_wrong_key_is_401_and_no_key_ever_reaches_the_log(server):
    wrong = openai.OpenAI(base_url=server.v1, api_key="sk-wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as caught:
        wrong.audio.speech.create(model="kokoro", voice="af_heart", input="Hi")
    assert caught.value.response.json()["error"]["code"] == "invalid_api_key"
    assert requests.get(f"{server.v1}/models").status_code == 401  # no header at all
    assert KEY not in server.process.log() and "sk-wrong" not in server.process.log()


@pytest.mark.parametrize("body, status, param, says", [
    (b"{not json", 400, None, "not JSON"),
    (b"[1, 2]", 400, None, "JSON object"),
    (b"[" * 5000 + b"]" * 5000, 400, None, "not JSON"),
    (json.dumps({"input": "Hi", "voice": "af_heart", "lang_code": "a"}).encode(), 400, "lang_code", "Unknown field"),
    (json.dumps({"input": "Hi", "voice": "af_heart", "response_format": "aac"}).encode(), 400, "response_format", "aac"),
    (json.dumps({"input": "Hi", "voice": "af_heart", "speed": "abc"}).encode(), 400, "speed", "'speed' must be"),
    (json.dumps({"input": "", "voice": "af_heart"}).encode(), 400, "input", "empty"),
    (json.dumps({"input": "Hi", "voice": "af_heart", "model": "v1.1-zh"}).encode(), 400, "model", "belongs to"),
    (json.dumps({"input": "Hi", "voice": "../../etc/passwd"}).encode(), 400, "voice", "file path"),
    (json.dumps({"input": "Hi", "response_format": "flac", "stream": True}).encode(), 400, "stream", "flac"),
    (json.dumps({"input": "x" * 10_001}).encode(), 400, "input", "10,001 characters"),
    (b'{"input": "' + b"x" * 200_000 + b'"}', 413, None, "bytes"),
])
@pytest.mark.hostile
def test_hostile_bodies_get_a_status_and_a_sentence_and_the_server_serves_on(server, client, body, status, param, says):
    answer = requests.post(f"{server.v1}/audio/speech", data=body, headers=_auth())
    assert answer.status_code == status, answer.text
    error = answer.json()["error"]
    assert error["param"] == param and says in error["message"], error
    assert "Traceback" not in answer.text
    assert client.audio.speech.create(model="kokoro", voice="af_heart", input="Still here.",
                                      response_format="wav").content[:4] == b"RIFF"


@pytest.mark.hostile
def test_a_full_house_is_429_with_retry_after_and_a_dropped_stream_frees_its_slot(server):
    long_text = " ".join(["A long sentence that keeps the only slot busy for a while."] * 165)  # 9,900 chars
    first = requests.post(f"{server.v1}/audio/speech", headers=_auth(), stream=True,
                          json={"input": long_text, "voice": "af_heart", "response_format": "pcm"})
    assert first.status_code == 200
    pieces = first.iter_content(4096)  # kept: a dropped iterator closes the connection
    next(pieces)  # it is speaking: the slot is taken, and nobody may wait
    busy = requests.post(f"{server.v1}/audio/speech", headers=_auth(), json={"input": "Hi", "voice": "af_heart"})
    assert busy.status_code == 429 and int(busy.headers["Retry-After"]) >= 1
    assert busy.json()["error"]["type"] == "rate_limit_error"
    first.close()  # the client goes away mid-stream
    deadline, status = time.monotonic() + 30, None
    while time.monotonic() < deadline and status != 200:
        status = requests.post(f"{server.v1}/audio/speech", headers=_auth(),
                               json={"input": "Hi", "voice": "af_heart", "response_format": "wav"}).status_code
        time.sleep(0.2)
    assert status == 200  # the dropped stream stopped and gave its slot back


def test_the_captioned_route_returns_the_result_contract_with_words_and_subtitles(server):
    answer = requests.post(f"{server.v1}/audio/speech/captioned", headers=_auth(), json={
        "input": "Hello there. How are you today?", "voice": "jf_alpha", "response_format": "wav",
        "captions": "srt", "language": "en-us"})
    assert answer.status_code == 200, answer.text
    out = answer.json()
    assert [w["text"] for w in out["words"]] == ["Hello", "there.", "How", "are", "you", "today?"]
    cues = list(srt.parse(out["captions"]))
    assert cues and cues[-1].content.endswith("today?")
    assert out["format"] == "wav" and out["voice"] == "jf_alpha" and out["audio_base64"]


def test_the_language_follows_the_voice_unless_given(server):
    def language(body):
        return requests.post(f"{server.v1}/audio/speech/captioned", headers=_auth(),
                             json={"input": "こんにちは。", **body}).json()["language"]

    assert language({"voice": "jf_alpha"}) == "ja"
    assert language({"voice": "zf_xiaobei"}) == "zh"


@pytest.mark.hostile
def test_concurrent_clients_all_get_audio_or_a_clear_429(server):
    results: list[int] = []

    def ask() -> None:
        results.append(requests.post(f"{server.v1}/audio/speech", headers=_auth(),
                                     json={"input": "Short.", "voice": "af_heart", "response_format": "wav"}).status_code)

    threads = [threading.Thread(target=ask) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert set(results) <= {200, 429} and 200 in results


def test_the_images_one_command_serves_http_with_kokoro_serve(standin_hf_home, tmp_path):
    """The Dockerfile's command is `python worker/handler.py`; KOKORO_SERVE=http makes it the server."""
    from tests.helpers_worker import HANDLER

    env = worker_env(KOKORO_MODELS="v1.0", KOKORO_SERVE="http")
    with http_server(env, tmp_path, script=HANDLER) as server:
        assert requests.get(f"{server.v1}/models").json()["data"][0]["id"] == "kokoro"


@pytest.mark.slow
def test_with_batching_on_concurrent_streams_share_passes(standin_hf_home, tmp_path):
    """KOKORO_BATCH_JOBS=on (`auto` on a GPU, and on a CPU running jobs at once through torch): three
    streamed requests at once each get their own whole text while their chunks share forward passes
    (the DEBUG log counts each pass's chunks)."""
    env = worker_env(KOKORO_MODELS="v1.0", KOKORO_CONCURRENCY="3", KOKORO_BATCH_JOBS="on", KOKORO_LOG_LEVEL="DEBUG")
    texts = ["One short sentence.", "Two sentences this time. The second one.",
             "Three sentences now. A second one here. And a third to end."]
    lengths: dict[int, float] = {}
    with http_server(env, tmp_path) as server:
        def ask(i: int) -> None:
            answer = requests.post(f"{server.v1}/audio/speech", json={"input": texts[i], "voice": "af_heart",
                                                                      "response_format": "pcm"}, timeout=120)
            assert answer.status_code == 200
            lengths[i] = len(answer.content) / 2 / 24_000

        threads = [threading.Thread(target=ask, args=(i,)) for i in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        log = server.process.log()
    assert lengths[0] < lengths[1] < lengths[2]  # each request got its own text, whole
    serving = log[log.index("Uvicorn running"):] if "Uvicorn running" in log else log
    passes = [int(n) for n in re.findall(r"(\d+) chunk\(s\) of v1.0 in one pass", serving)]
    assert passes and max(passes) >= 2, log[-3000:]
