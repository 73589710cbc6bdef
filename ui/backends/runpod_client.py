"""Talk to one RunPod Serverless endpoint over its HTTP API: submit a job, follow it, return its output.

Retries (urllib3 `Retry` on a requests `HTTPAdapter`, exponential backoff, Retry-After honoured but
capped): GET /status, /stream, /health and POST /cancel are safe to repeat, so they are retried on
429, 5xx, refused connections and dropped connections. POST /run is not idempotent: if the cloud
took the job and then the answer was lost (500/502/504, a connection dropped mid-answer), a retry
would queue a second job that bills GPU time and whose result nobody reads. So POST /run is only
retried when the request surely was not queued: 429 and 503 (rejected, "try later"), and connections
that never opened. Anything else fails fast and the user can press the button again.

The API key lives only in the session headers and a `_Secret` that never prints; every message
that could echo server text is scrubbed of it.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError, ReadTimeoutError
from urllib3.util.retry import Retry

from worker.core import settings
from worker.core.errors import KokoroError

log = logging.getLogger(__name__)

RETRY_AFTER_CAP_S = 10.0  # a server asking for minutes must not outlast our own time limit
_RUNNING = frozenset({"IN_QUEUE", "IN_PROGRESS"})


class RunPodError(KokoroError):
    """RunPod could not give us a result; the message is one sentence fit for the user."""


class RunPodCancelledError(RunPodError):
    """We cancelled the job ourselves because the caller asked to (`should_cancel`)."""


class _Secret(str):
    """A str whose repr hides it, so a client dumped in a log or debugger shows no key."""

    def __repr__(self) -> str:
        return "'***'"


class _CappedRetry(Retry):
    def get_retry_after(self, response: Any) -> float | None:
        after = super().get_retry_after(response)
        return None if after is None else min(after, RETRY_AFTER_CAP_S)


class RunPodClient:
    def __init__(self, endpoint_id: str, api_key: str, api_base: str | None = None,
                 timeout_s: float = 300.0, poll_interval_s: float = 1.0, *,
                 request_timeout_s: float = 30.0, max_retries: int = 4, backoff_s: float = 0.5):
        if not endpoint_id or not endpoint_id.strip():
            raise RunPodError("No RunPod endpoint id is set (RUNPOD_ENDPOINT_ID).")
        if not api_key or not api_key.strip():
            raise RunPodError("No RunPod API key is set (RUNPOD_API_KEY).")
        self.endpoint_id = endpoint_id.strip()
        self._key = _Secret(api_key.strip())
        base = (api_base or settings.runpod().api_base).rstrip("/")
        self.url = f"{base}/{quote(self.endpoint_id, safe='')}"
        self.timeout_s, self.poll_interval_s = timeout_s, poll_interval_s
        self.request_timeout_s, self.max_retries = request_timeout_s, max_retries
        common = dict(total=max_retries, backoff_factor=backoff_s, backoff_max=10.0,
                      raise_on_status=False)  # the last 429/5xx comes back to us to word it
        self._session = self._new_session(_CappedRetry(
            **common, allowed_methods=frozenset({"GET", "POST"}),
            status_forcelist=(429, 500, 502, 503, 504)))
        # read=False: a connection dropped after POST /run was sent may have queued the job.
        self._submit_session = self._new_session(_CappedRetry(
            **common, read=False, allowed_methods=frozenset({"POST"}), status_forcelist=(429, 503)))

    @classmethod
    def from_env(cls, **kwargs: Any) -> "RunPodClient":
        where = settings.runpod()
        return cls(where.endpoint_id, where.api_key, where.api_base, **kwargs)

    def __repr__(self) -> str:
        return f"RunPodClient(url={self.url!r})"

    def _new_session(self, retry: Retry) -> requests.Session:
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {self._key}"
        adapter = HTTPAdapter(max_retries=retry)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        return session

    def close(self) -> None:
        self._session.close()
        self._submit_session.close()

    # -- the endpoint's routes -----------------------------------------------------------------
    def submit(self, input: dict) -> str:  # noqa: A002 (RunPod's own word)
        body = self._call("POST", "/run", {"input": input}, session=self._submit_session)
        job_id = body.get("id")
        if not isinstance(job_id, str) or not job_id:
            raise RunPodError("RunPod accepted the request but sent back no job id.")
        log.info("RunPod job %s submitted", job_id)
        return job_id

    def status(self, job_id: str) -> dict:
        return self._call("GET", f"/status/{quote(job_id, safe='')}", job_id=job_id)

    def stream(self, job_id: str) -> dict:
        return self._call("GET", f"/stream/{quote(job_id, safe='')}", job_id=job_id)

    def cancel(self, job_id: str) -> dict:
        return self._call("POST", f"/cancel/{quote(job_id, safe='')}", job_id=job_id)

    def health(self) -> dict:
        return self._call("GET", "/health")

    def run(self, input: dict, on_update: Callable[[str, float, Any], None] | None = None,  # noqa: A002
            should_cancel: Callable[[], bool] | None = None,
            on_item: Callable[[dict], None] | None = None) -> dict | None:
        """Submit, poll until the job ends, return its output dict; raise RunPodError otherwise.

        With `on_item` the job is followed on /stream: each item a streaming worker yields goes to
        `on_item` as it arrives, and a job that streamed returns None. A worker that does not stream
        yields nothing there (or, on RunPod, its whole output as one item, returned as the output)."""
        start = time.monotonic()
        deadline = start + self.timeout_s
        job_id = self.submit(input)
        state = "IN_QUEUE"
        route = "stream" if on_item is not None else "status"
        streamed = False
        try:
            while True:
                if should_cancel is not None and should_cancel():
                    raise RunPodCancelledError("The request was cancelled.")
                if time.monotonic() >= deadline:
                    raise RunPodError(f"RunPod did not finish the job within {self.timeout_s:g} s.")
                body = self._call("GET", f"/{route}/{quote(job_id, safe='')}", job_id=job_id,
                                  deadline=deadline)
                state = str(body.get("status", ""))
                if on_item is not None:
                    for item in body.get("stream") or ():
                        output = item.get("output") if isinstance(item, dict) else None
                        if isinstance(output, dict) and "chunk" not in output and "error" not in output:
                            return output  # a worker that does not stream: its whole result
                        if isinstance(output, dict):
                            streamed = True
                            on_item(output)
                if on_update is not None:
                    progress = body.get("output") if state == "IN_PROGRESS" else None
                    on_update(state, time.monotonic() - start, progress)
                if state not in _RUNNING:
                    if state == "COMPLETED" and streamed:
                        return None
                    if route == "stream":  # the result or the error text is on /status
                        body = self.status(job_id)
                        state = str(body.get("status", state))
                    return self._finished(job_id, state, body)
                self._nap(min(self.poll_interval_s, max(0.0, deadline - time.monotonic())), should_cancel)
        except BaseException:
            # Whatever stops us (our limit, the caller, a callback error, Ctrl-C) would otherwise
            # leave a GPU working for nobody, so the job is cancelled on the way out.
            if state in _RUNNING:
                self._cancel_quietly(job_id)
            raise

    # -- helpers -------------------------------------------------------------------------------
    @staticmethod
    def _nap(seconds: float, should_cancel: Callable[[], bool] | None) -> None:
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            if should_cancel is not None and should_cancel():
                return
            time.sleep(min(left, 0.1))

    def _cancel_quietly(self, job_id: str) -> None:
        try:
            self.cancel(job_id)
            log.info("RunPod job %s cancelled", job_id)
        except RunPodError as err:
            log.warning("Could not cancel RunPod job %s: %s", job_id, err)

    def _finished(self, job_id: str, state: str, body: dict) -> dict:
        if state == "COMPLETED":
            output = body.get("output")
            if not isinstance(output, dict):
                raise RunPodError("The RunPod job finished but its worker sent back no result.")
            return output
        if state == "FAILED":
            raise RunPodError(f"The RunPod worker failed: {self._worker_error(body.get('error'))}")
        if state == "CANCELLED":
            raise RunPodError("The RunPod job was cancelled before it finished.")
        if state == "TIMED_OUT":
            raise RunPodError("The RunPod job ran past the endpoint's execution timeout and was stopped.")
        raise RunPodError(self._scrub(f"RunPod reported an unknown job status {state!r} for job {job_id}."))

    def _worker_error(self, error: Any) -> str:
        # The handler's {"error": "..."} arrives as that string; an exception the SDK caught arrives
        # as a JSON string (or, from a generator, "handler: ... traceback: ...") holding a
        # traceback, of which only the message is fit for a user.
        text = error if isinstance(error, str) else json.dumps(error)
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict) and parsed.get("error_message"):
            text = str(parsed["error_message"])
        elif text.startswith("handler: ") and "\ntraceback:" in text:  # a generator handler raised
            text = text[len("handler: "):text.index("\ntraceback:")]
        text = self._scrub(text.strip() or "no error text")  # then cut: a cut key would survive the scrub
        return text if len(text) <= 500 else text[:497] + "..."

    def _scrub(self, text: str) -> str:
        # Real keys are long; scrubbing a toy 1-letter key would shred every message.
        return text.replace(self._key, "***") if len(self._key) >= 8 else text

    def _transport_error(self, err: requests.RequestException, host: str, timeout: float,
                         deadline: float | None, submitting: bool) -> RunPodError:
        # Once urllib3's retries run out, requests wraps the last cause in a plain ConnectionError.
        reason = getattr(err.args[0], "reason", None) if err.args else None
        retries = f"{self.max_retries} retries"
        never_connected = isinstance(reason, (NewConnectionError, ConnectTimeoutError))
        if isinstance(err, requests.ConnectTimeout) or never_connected:
            return RunPodError(f"Could not reach RunPod at {host} (network unreachable, {retries}).")
        if submitting:
            return RunPodError(f"The connection to RunPod at {host} failed while sending the job; "
                               "it may or may not have been queued.")
        if isinstance(err, requests.Timeout) or isinstance(reason, ReadTimeoutError):
            if deadline is not None and time.monotonic() >= deadline - 0.5:
                return RunPodError(f"RunPod did not finish the job within {self.timeout_s:g} s.")
            return RunPodError(f"RunPod at {host} did not answer within {timeout:.3g} s.")
        if isinstance(err, requests.ConnectionError):
            return RunPodError(f"Could not reach RunPod at {host} (connection dropped, {retries}).")
        return RunPodError(f"The request to RunPod failed ({type(err).__name__}).")

    def _call(self, method: str, path: str, body: dict | None = None, *, job_id: str | None = None,
              session: requests.Session | None = None, deadline: float | None = None) -> dict:
        session = session or self._session
        host = self.url.split("/")[2]
        timeout = self.request_timeout_s
        if deadline is not None:
            # Inside run(): urllib3 retries a timed-out read with the same timeout, so the time left
            # is shared among all attempts to keep run()'s overall limit close to exact.
            timeout = max(0.2, min(timeout, (deadline - time.monotonic()) / (self.max_retries + 1)))
        try:
            response = session.request(method, self.url + path, json=body, timeout=timeout)
        except requests.RequestException as err:
            # `from None`: the requests exception carries the prepared request, Authorization and all.
            submitting = session is self._submit_session
            raise self._transport_error(err, host, timeout, deadline, submitting) from None
        code = response.status_code
        if code in (401, 403):
            raise RunPodError(f"RunPod rejected the API key (HTTP {code}): check RUNPOD_API_KEY.")
        if code == 404:
            what = f"job {job_id} (results expire 30 minutes after a job ends)" if job_id else "this endpoint"
            raise RunPodError(self._scrub(f"RunPod does not know endpoint {self.endpoint_id!r} or {what}: "
                                          "check RUNPOD_ENDPOINT_ID (HTTP 404)."))
        if code == 429:
            raise RunPodError("RunPod kept rate-limiting this API key (HTTP 429) after retries; "
                              "try again in a minute.")
        if code >= 500:
            raise RunPodError(f"RunPod had a server error (HTTP {code}); try again later.")
        try:
            data = response.json()
        except ValueError:
            data = None
        if code >= 400:
            # Scrubbed before it is cut: a cut through the key would leave its first characters.
            detail = self._scrub(str((data.get("error") if isinstance(data, dict) else None) or response.reason))
            raise RunPodError(f"RunPod refused the request (HTTP {code}): {detail[:300]}.")
        if not isinstance(data, dict):
            raise RunPodError(f"RunPod sent an answer that is not a JSON object (HTTP {code}).")
        return data
