"""The HTTP face of the worker: OpenAI's speech API on the same engine, parser and result contract
as the queue handler. What a RunPod load-balancing endpoint runs, and what a user runs on their
own GPU box or laptop: `python worker/server.py` (port PORT, default 8880 as Kokoro-FastAPI).

    POST /v1/audio/speech            {"model": "kokoro", "input": "Hello!", "voice": "af_heart",
                                      "response_format": "mp3", "speed": 1.0, "stream": true,
                                      "language": "en-us", "split_sentences": true}   -> audio bytes
    POST /v1/audio/speech/captioned  same body (+ "captions": "srt"|"vtt")  -> the queue handler's
                                      JSON result: audio_base64, words, captions, message, chunks…
    GET  /v1/models, /v1/audio/voices, /ping (204 while models load, 200 when ready)

Errors are OpenAI's `{"error": {"message", "type", "param", "code"}}`: 400 bad input (the queue
handler's sentences), 401 wrong key (KOKORO_API_KEY), 413 body too big, 429 too many waiting
(KOKORO_MAX_WAITING beyond KOKORO_CONCURRENCY running), 503 while models load; both with
Retry-After. Streamed audio flows chunk by chunk: the first bytes leave after the first sentence.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as `python worker/server.py`

from fastapi import FastAPI, Request  # noqa: E402
from fastapi.responses import JSONResponse, Response, StreamingResponse  # noqa: E402
from starlette.exceptions import HTTPException  # noqa: E402

from worker.core import background, settings, startup  # noqa: E402
from worker.core.errors import InputError, KokoroError, ModelUnavailableError  # noqa: E402
from worker.service import openai_api, runtime  # noqa: E402
from worker.service.gate import Busy, Gate  # noqa: E402
from worker.service.openai_api import ApiError  # noqa: E402
from worker.service.request import parse_request  # noqa: E402
from worker.sound.stream import StreamEncoder  # noqa: E402
from worker.text import lexicon  # noqa: E402

log = logging.getLogger("kokoro.server")
app = FastAPI(title="Kokoro-82M speech", version="1", docs_url="/docs", redoc_url=None)
gate = Gate()


def _error(exc: ApiError) -> JSONResponse:
    return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)


@app.exception_handler(ApiError)
async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
    return _error(exc)


@app.exception_handler(HTTPException)
async def _http_error(_: Request, exc: HTTPException) -> JSONResponse:
    return _error(ApiError(exc.status_code, str(exc.detail), code="not_found" if exc.status_code == 404 else None))


@app.exception_handler(Exception)
async def _crash(_: Request, exc: Exception) -> JSONResponse:  # the server never dies on a request
    log.error("Request failed", exc_info=exc)
    return _error(ApiError(500, "Synthesis failed inside the server; see its log.", kind="server_error"))


@app.middleware("http")
async def _auth(request: Request, call_next):
    """KOKORO_API_KEY, when set, guards every route but /ping (the platform's health check)."""
    key = settings.api_key()
    if key and request.url.path != "/ping":
        given = request.headers.get("authorization", "")
        token = given[7:] if given[:7].lower() == "bearer " else ""
        if not hmac.compare_digest(token.encode(), key.encode()):  # constant time; never logged
            return _error(ApiError(401, "Incorrect or missing API key: send Authorization: Bearer <KOKORO_API_KEY>.",
                                   code="invalid_api_key"))
    return await call_next(request)


@app.get("/ping")
async def ping() -> Response:
    if runtime.ready.is_set():
        return JSONResponse({"status": "healthy"})
    return Response(status_code=204)  # RunPod: initialising; send no traffic yet


@app.get("/v1/models")
async def models() -> dict:
    return openai_api.models_body(runtime.engine().catalog)


@app.get("/v1/audio/voices")
async def voices() -> dict:
    return openai_api.voices_body(runtime.engine().catalog)


async def _body(request: Request) -> object:
    """The JSON body, refused with 413 past the largest text a request may carry."""
    limit = 12 * settings.max_text_chars() + 65_536  # JSON's \\uXXXX escapes, surrogate pairs
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise ApiError(413, f"The body is {int(declared):,} bytes; at most {limit:,} are read.", code="request_too_large")
    data = bytearray()
    async for piece in request.stream():
        data += piece
        if len(data) > limit:
            raise ApiError(413, f"The body passes {limit:,} bytes, the most that is read.", code="request_too_large")
    try:
        return json.loads(data)
    except (ValueError, RecursionError):
        raise ApiError(400, "The body is not JSON.") from None


def _parsed(body: object, captioned: bool):
    catalog = runtime.engine().catalog
    try:
        job, fmt, stream = openai_api.to_job(body, catalog, captioned)
        return parse_request(job, catalog), fmt, stream
    except InputError as exc:
        raise _answer(exc) from None


def _answer(exc: KokoroError) -> ApiError:
    if isinstance(exc, InputError):
        return ApiError(400, str(exc), param=openai_api.param_of(exc))
    if isinstance(exc, ModelUnavailableError):
        return ApiError(503, str(exc), kind="server_error", code="model_unavailable")
    return ApiError(500, str(exc), kind="server_error")


async def _slot() -> None:
    if not runtime.ready.is_set():
        raise ApiError(503, "The models are still loading; try again shortly.", kind="server_error",
                       code="loading", headers={"Retry-After": "10"})
    try:
        await gate.enter()
    except Busy as busy:
        raise ApiError(429, str(busy), kind="rate_limit_error", code="too_many_requests",
                       headers={"Retry-After": str(busy.retry_after_s)}) from None


@app.post("/v1/audio/speech")
async def speech(request: Request) -> Response:
    parsed, fmt, stream = _parsed(await _body(request), captioned=False)
    await _slot()
    if stream:
        return await _streamed(parsed, fmt)  # the slot is left when the stream ends
    _, data = await _whole(parsed)
    return Response(data, media_type=openai_api.MEDIA_TYPES[fmt])


@app.post("/v1/audio/speech/captioned")
async def captioned(request: Request) -> dict:
    parsed, _, _ = _parsed(await _body(request), captioned=True)
    await _slot()
    synthesis, data = await _whole(parsed)
    return synthesis.result.output(data, parsed.format)


async def _whole(parsed):
    """(synthesis, encoded file) of a request holding a slot, which it then leaves."""
    try:
        synthesis = await asyncio.to_thread(runtime.engine().synthesize, parsed)
        return synthesis, await asyncio.to_thread(synthesis.encode, parsed.format)
    except KokoroError as exc:
        raise _answer(exc) from None
    finally:
        gate.leave()


async def _streamed(parsed, fmt: str) -> Response:
    """Audio bytes as each chunk is spoken. The first chunk is made before the answer starts, so a
    request that fails early still gets its status; a later failure ends the stream (and is logged)."""
    loop = asyncio.get_running_loop()
    pieces: asyncio.Queue = asyncio.Queue()
    stop = threading.Event()  # the client went away: speak no further chunk

    def produce() -> None:
        put = lambda kind, value: loop.call_soon_threadsafe(pieces.put_nowait, (kind, value))  # noqa: E731
        try:
            encoder = StreamEncoder(parsed.format)
            for chunk in runtime.engine().stream(parsed):
                put("data", encoder.feed(chunk.audio))
                if stop.is_set():
                    return
            put("data", encoder.close())
            put("end", None)
        except Exception as exc:  # noqa: BLE001 (handed to the event loop, which answers or logs it)
            put("error", exc)

    threading.Thread(target=produce, name="kokoro-stream", daemon=True).start()
    released = threading.Event()

    def release() -> None:  # once, however the answer ends
        stop.set()
        if not released.is_set():
            released.set()
            gate.leave()

    try:
        first = await pieces.get()
    except BaseException:
        release()
        raise
    if first[0] == "error":
        release()
        if isinstance(first[1], KokoroError):
            raise _answer(first[1])
        raise first[1]

    async def body():
        kind, value = first
        while kind == "data":
            if value:
                yield value
            kind, value = await pieces.get()
        if kind == "error":
            log.error("Stream ended by a failure after its first chunk", exc_info=value)

    return _Held(body(), release, media_type=openai_api.MEDIA_TYPES[fmt])


class _Held(StreamingResponse):
    """A streamed answer that gives its slot back when it ends: sent, failed, or the client gone
    (Starlette may never start a body whose client left, so the body's own `finally` is not enough)."""

    def __init__(self, content, release, **kwargs):
        super().__init__(content, **kwargs)
        self._release = release

    async def __call__(self, scope, receive, send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._release()


failed = threading.Event()  # warm-up found a model missing: the server stops, exit 1


def _warm_up(known: list[str], servers: list) -> None:
    try:
        runtime.warm_up(known)
        log.info("Ready: models warm")
    except KokoroError as exc:
        print(f"kokoro server cannot start: {exc}", file=sys.stderr)
        failed.set()
        for server in servers:
            server.should_exit = True


def main() -> None:
    # exit 1, one line, on a bad catalog or setting, or a lexicon the models cannot speak
    serve(startup.start_up("kokoro server", lexicon.check_sounds))


def serve(catalog) -> None:
    """The server on PORT (and /ping on PORT_HEALTH) for a started-up process's catalog."""
    import uvicorn

    runtime.share_cores()
    gate.configure(settings.concurrency(), settings.max_waiting())
    level = settings.log_level().lower()
    port, health = settings.port("PORT"), settings.port("PORT_HEALTH")
    servers = [uvicorn.Server(uvicorn.Config(app, host="0.0.0.0", port=port, log_level=level))]
    if health != port:  # RunPod may probe health on its own port
        servers.append(uvicorn.Server(uvicorn.Config(health_app, host="0.0.0.0", port=health, log_level=level)))
    background.start(_warm_up, list(catalog.models), servers, name="kokoro-warm-up")

    async def all_servers() -> None:
        await asyncio.gather(*(server.serve() for server in servers))

    asyncio.run(all_servers())
    if failed.is_set():
        sys.exit(1)


health_app = FastAPI(docs_url=None, redoc_url=None)
health_app.get("/ping")(ping)

if __name__ == "__main__":
    main()
