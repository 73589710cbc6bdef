"""Settings: one parse, one error policy. A bad value is one line naming it, and both the worker and
the studio refuse to start on it (exit code 1, no traceback); the worker's log never holds job text."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from tests.conftest import REPO, worker_env
from tests.helpers_process import run_together
from tests.helpers_worker import local_api, runsync
from worker.core import settings, startup
from worker.core.errors import SettingsError

MODELS = ["v1.0", "v1.1-zh"]
NOT_HERE = f"cuda:{torch.cuda.device_count() if torch.cuda.is_available() else 0}"  # never a device here


@pytest.mark.parametrize("name, value, message", [
    ("KOKORO_MODELS", "v9", "KOKORO_MODELS='v9': unknown model 'v9'; the catalog's models are v1.0, v1.1-zh."),
    ("KOKORO_DEVICE", NOT_HERE, f"KOKORO_DEVICE={NOT_HERE}, but this machine has"),
    ("KOKORO_DEVICE", "tpu", "KOKORO_DEVICE='tpu' is not a device: use cpu, cuda, cuda:N or mps."),
    ("KOKORO_LOG_LEVEL", "LOUD", "KOKORO_LOG_LEVEL='LOUD' is not a log level"),
    ("KOKORO_CONCURRENCY", "0", "KOKORO_CONCURRENCY=0 is out of range: it must be between 1 and 16."),
    ("KOKORO_MAX_TEXT_CHARS", "lots", "KOKORO_MAX_TEXT_CHARS='lots' is not a whole number."),
    ("KOKORO_CLIP_CACHE_MB", "-5", "KOKORO_CLIP_CACHE_MB='-5' is not a size in MB"),
    ("KOKORO_SKIP_WARMUP", "maybe", "KOKORO_SKIP_WARMUP='maybe' is not a switch"),
    ("KOKORO_PRECISION", "fast", "KOKORO_PRECISION='fast' is not a precision: use auto, fp32, bf16 or int8."),
    ("KOKORO_BATCH_JOBS", "always", "KOKORO_BATCH_JOBS='always' is not a choice: use auto, on or off."),
    ("RUNPOD_STREAM", "sometimes", "RUNPOD_STREAM='sometimes' is not a switch"),
    ("RUNPOD_ENDPOINT_ID", "https://api.runpod.ai/v2/abc", "RUNPOD_ENDPOINT_ID='https://api.runpod.ai/v2/abc' is not"),
    ("RUNPOD_API_KEY", "rpa_SECRET\nrpa_SECRET", "RUNPOD_API_KEY holds a space, a line break"),
    ("RUNPOD_API_KEY", "rpa_SECRET rest", "RUNPOD_API_KEY holds a space, a line break"),
])
@pytest.mark.hostile
def test_each_bad_setting_is_one_sentence_naming_it(name, value, message):
    with pytest.raises(SettingsError) as caught:
        startup.check_all(MODELS, {name: value})
    assert str(caught.value).startswith(message) and "\n" not in str(caught.value)
    assert "SECRET" not in str(caught.value)  # an API key is never echoed, not even in part


def test_good_values_parse_one_way_for_every_reader():
    env = {"KOKORO_MODELS": " v1.1-zh ,", "KOKORO_LOG_LEVEL": "debug", "KOKORO_SKIP_WARMUP": "On",
           "KOKORO_STREAM": "", "KOKORO_CONCURRENCY": "4", "KOKORO_SERVED_MB": "1.5", "KOKORO_DEVICE": "CPU"}
    startup.check_all(MODELS, env)
    assert settings.models(MODELS, env) == ["v1.1-zh"] and settings.models(MODELS, {}) == MODELS
    assert settings.log_level(env) == "DEBUG" and settings.device(env) == "cpu"
    assert settings.env_flag("KOKORO_SKIP_WARMUP", env) and not settings.env_flag("KOKORO_STREAM", env)
    assert settings.concurrency(env) == 4 and settings.megabytes("KOKORO_SERVED_MB", 512, env) == 1572864
    assert settings.max_text_chars({}) == settings.DEFAULT_MAX_CHARS
    assert [settings.batch_jobs({"KOKORO_BATCH_JOBS": v}) for v in ("", "Auto", "true", "on", "0", "off")] == \
        ["auto", "auto", "on", "on", "off", "off"]
    # RUNPOD_STREAM: on unless switched off (a worker that does not stream answers on /stream too)
    assert settings.runpod({}).stream and not settings.runpod({"RUNPOD_STREAM": "false"}).stream


BAD_STARTS = [
    ("worker", "KOKORO_MODELS", "v9", "KOKORO_MODELS="),
    ("worker", "KOKORO_DEVICE", NOT_HERE, "KOKORO_DEVICE="),
    ("worker", "KOKORO_LOG_LEVEL", "LOUD", "KOKORO_LOG_LEVEL="),
    ("worker", "KOKORO_LEXICON", "{binary}", "The lexicon /"),
    ("worker", "KOKORO_SERVE", "both", "KOKORO_SERVE='both' is not a way to serve"),
    ("studio", "KOKORO_MODELS", "v9", "KOKORO_MODELS="),
    ("studio", "KOKORO_DEVICE", NOT_HERE, "KOKORO_DEVICE="),
    ("studio", "KOKORO_VOTES_DB", "/proc/kokoro/votes.sqlite3", "The votes database /proc/kokoro/votes.sqlite3"),
    ("studio", "RUNPOD_API_KEY", "rpa_SECRET\nrpa_SECRET", "RUNPOD_API_KEY holds"),
]


@pytest.fixture(scope="module")
def refused_starts(request, tmp_path_factory) -> dict[tuple[str, str, str], subprocess.CompletedProcess]:
    """Every start-up of BAD_STARTS this run selected, started at once (tests/helpers_process.py
    run_together), each its own process in its own folder: one after the other they were ~50 s."""
    runs = {}
    for item in request.session.items:
        if item.originalname == "test_a_bad_setting_stops_start_up_with_one_line":
            program, name, value = (item.callspec.params[k] for k in ("program", "name", "value"))
            cwd = tmp_path_factory.mktemp("start")
            if value == "{binary}":
                (cwd / "lexicon.yaml").write_bytes(bytes(range(256)) * 4)
            script = {"worker": REPO / "worker" / "handler.py", "studio": REPO / "ui" / "app.py"}[program]
            env = worker_env(**{name: str(cwd / "lexicon.yaml") if value == "{binary}" else value})
            runs[program, name, value] = [sys.executable, str(script)], env, cwd
    return run_together(runs)


@pytest.mark.parametrize("program, name, value, says", BAD_STARTS)
@pytest.mark.slow
@pytest.mark.hostile
def test_a_bad_setting_stops_start_up_with_one_line(refused_starts, program, name, value, says):
    done = refused_starts[program, name, value]
    assert done.returncode == 1, done.stderr[-2000:]
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"kokoro {program} cannot start: {says}"), done.stderr
    assert "Traceback" not in done.stdout + done.stderr and "SECRET" not in done.stdout + done.stderr


@pytest.mark.slow
def test_the_worker_log_holds_no_job_text_and_no_false_errors(standin_hf_home, tmp_path):
    secret = "Zanzibar marmalade. Quietly purple giraffes."  # two sentences: two progress updates
    with local_api(tmp_path, worker_env(KOKORO_MODELS="v1.0", KOKORO_LOG_LEVEL="DEBUG")) as url:
        job = runsync(url, {"text": secret, "voice": "af_heart"})
        assert job["status"] == "COMPLETED", job
    log = (tmp_path / "worker.log").read_text()
    assert "Started." in log  # the SDK's INFO lines are there, so its DEBUG ones would be too
    for word in ("Zanzibar", "marmalade", "giraffes"):
        assert word not in log
    assert " ERROR " not in log and "Failed to return job results" not in log, log[-3000:]


def test_kokoro_device_wins_over_the_default(monkeypatch):
    # On a machine where the default is CUDA, KOKORO_DEVICE=cpu must put the engine on the CPU: a
    # value that cannot be the default, so the test fails if the setting is not read.
    from worker.model.engine import Engine

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert settings.device({}) == "cuda"
    monkeypatch.setenv("KOKORO_DEVICE", "cpu")
    assert settings.device() == "cpu" and Engine().device == "cpu"


def test_every_documented_log_level_is_one_the_sdk_takes(monkeypatch):
    """The RunPod SDK's logger refuses Python's WARNING and CRITICAL (a crash loop on RunPod)."""
    from runpod.serverless.modules.rp_logger import RunPodLogger

    from worker import handler

    sdk = RunPodLogger()
    before = sdk.level
    try:
        for level in settings.LOG_LEVELS:
            monkeypatch.setenv("KOKORO_LOG_LEVEL", level.lower())
            handler._quiet_sdk()
            assert sdk.level == {"DEBUG": "INFO", "WARNING": "WARN", "CRITICAL": "ERROR"}.get(level, level)
    finally:
        sdk.set_level(before)


@pytest.mark.slow
def test_a_worker_started_with_log_level_warning_runs_its_job(tmp_path):
    """The crash loop, as a user met it: `KOKORO_LOG_LEVEL=WARNING python worker/handler.py`."""
    import json

    from tests.conftest import REPO
    from tests.helpers_worker import run_test_input

    record = tmp_path / "output.json"  # at WARN the SDK logs no result: the recording handler keeps it
    env = worker_env(KOKORO_MODELS="v1.0", KOKORO_LOG_LEVEL="WARNING", KOKORO_TEST_RECORD=str(record))
    done = run_test_input({"text": "Hi."}, tmp_path, env, script=str(REPO / "tests" / "fixtures" / "recording_handler.py"))
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert json.loads(record.read_text())["audio_base64"]


@pytest.mark.parametrize("content, says", [
    (bytes(range(256)) * 4, "is not UTF-8 text (a binary file?)."),
    (b"en-us:\n  Kokoro: [unclosed\n", "is not valid YAML: line 3, column 1: expected ',' or ']'"),
    (b"x" * (4 * 1024 * 1024 + 1), "is 4 MB; it must be at most 4 MB of YAML text."),
], ids=["binary", "malformed", "huge"])
@pytest.mark.hostile
def test_a_lexicon_that_is_not_yaml_text_is_one_line(tmp_path, catalog, content, says):
    from worker.text import lexicon

    path = tmp_path / "lexicon.yaml"
    path.write_bytes(content)
    with pytest.raises(lexicon.LexiconError) as caught:
        lexicon.load(path, catalog)
    message = str(caught.value)
    assert message.startswith(f"The lexicon {path} ") and says in message and "\n" not in message


@pytest.mark.hostile
def test_a_votes_database_that_cannot_be_created_stops_the_studio_at_start_up(monkeypatch, capsys):
    from ui.studio.votes import VoteStore

    monkeypatch.setenv("KOKORO_VOTES_DB", "/proc/kokoro/votes.sqlite3")  # /proc takes no new folder
    with pytest.raises(SystemExit) as stopped:
        startup.start_up("kokoro studio", VoteStore)
    lines = capsys.readouterr().err.strip().splitlines()
    assert stopped.value.code == 1 and len(lines) == 1
    assert lines[0].startswith("kokoro studio cannot start: The votes database /proc/kokoro/votes.sqlite3 ")
