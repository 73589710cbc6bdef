"""The image's build script and the Dockerfile (no Docker engine runs here: lint + offline checks)."""

import shutil
import subprocess
import sys

import pytest

from tests.conftest import REPO, worker_env

FETCH = str(REPO / "worker" / "fetch_weights.py")


def _check(hf_home) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, FETCH, "--check"], env=worker_env(HF_HOME=str(hf_home)),
                          capture_output=True, text=True, timeout=120)


def test_build_script_finds_every_catalog_voice(standin_hf_home, catalog):
    proc = _check(standin_hf_home)
    assert proc.returncode == 0, proc.stderr
    expected = 2 * len(catalog.models) + len(catalog.voices)
    assert f"All {expected} files of the catalog" in proc.stdout


def test_build_script_names_what_is_missing(standin_hf_home, tmp_path):
    copy = tmp_path / "hf"
    shutil.copytree(standin_hf_home / "hub", copy / "hub", symlinks=True,
                    ignore=lambda d, names: [n for n in names if n.endswith(".pth")])
    for voice in copy.glob("hub/models--hexgrad--Kokoro-82M-v1.1-zh/snapshots/*/voices/zm_045.pt"):
        voice.unlink()
    proc = _check(copy)
    assert proc.returncode == 1
    assert "3 of 161 files missing" in proc.stderr
    assert "hexgrad/Kokoro-82M-v1.1-zh/voices/zm_045.pt" in proc.stderr
    assert "hexgrad/Kokoro-82M/kokoro-v1_0.pth" in proc.stderr


def test_dockerfile_lints_clean():
    hadolint = shutil.which("hadolint")
    if hadolint is None:
        pytest.fail("hadolint is not installed (pip install -r requirements-dev.txt)")
    proc = subprocess.run([hadolint, str(REPO / "Dockerfile")], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_dockerfile_bakes_weights_and_runs_offline():
    text = (REPO / "Dockerfile").read_text()
    assert "worker/fetch_weights.py" in text and "ENV HF_HUB_OFFLINE=1" in text
    assert 'CMD ["python", "-u", "worker/handler.py"]' in text
    assert "en_core_web_sm" in text and "unidic download" in text


def test_hub_tests_are_valid_jobs_and_hub_env_is_what_the_worker_reads(catalog):
    import json

    from worker.core import startup
    from worker.service.request import parse_request

    for case in json.loads((REPO / ".runpod" / "tests.json").read_text())["tests"]:
        parse_request(case["input"], catalog)  # raises on an invalid job
    hub = json.loads((REPO / ".runpod" / "hub.json").read_text())
    readme = (REPO / "README.md").read_text()
    sources = "".join(p.read_text() for p in (REPO / "worker").rglob("*.py"))
    for env in hub["config"]["env"]:
        assert env["key"] in sources and f"`{env['key']}`" in readme, env["key"]
        assert env["input"]["description"]
        for option in env["input"].get("options", []):  # every value the form offers starts the worker
            startup.check_all(list(catalog.models), {env["key"]: option["value"]})


def test_ci_runs_exactly_the_readme_test_command():
    readme = (REPO / "README.md").read_text().split("```bash\n", 1)[1].split("```", 1)[0]
    install_and_run, test_command = readme.strip().splitlines()
    assert install_and_run.endswith("python ui/app.py")
    assert test_command in (REPO / ".ci" / "run").read_text().splitlines()


def _requirements(name: str, seen: set | None = None) -> tuple[list, list[str]]:
    """The requirements of a pip file, following -r, and its option lines."""
    from packaging.requirements import Requirement

    seen = set() if seen is None else seen
    reqs, options = [], []
    for line in (REPO / name).read_text().splitlines():
        line = line.split(" #")[0].strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("-r "):
            if line[3:] not in seen:
                seen.add(line[3:])
                more, opts = _requirements(line[3:], seen)
                reqs, options = reqs + more, options + opts
        elif line.startswith("-"):
            options.append(line)
        else:
            reqs.append(Requirement(line))
    return reqs, options


def test_the_first_command_installs_torch_for_the_cpu_and_builds_nothing():
    reqs, options = _requirements("requirements.txt")
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in options
    linux = {"sys_platform": "linux", "platform_system": "Linux"}
    torch_pins = [r for r in reqs if r.name == "torch" and (r.marker is None or r.marker.evaluate(linux))]
    # PyPI's Linux torch pulls ~3 GB of CUDA libraries; the +cpu build from PyTorch's index does not.
    assert any(str(s).endswith("+cpu") for r in torch_pins for s in r.specifier), torch_pins
    names = {r.name.lower(): r for r in reqs}
    # pyopenjtalk has no wheels (a compiler, cmake and minutes); pyopenjtalk-plus is the same module.
    assert "pyopenjtalk" not in names and "pyopenjtalk-plus" in names
    assert "ja" not in names["misaki"].extras
    for r in reqs:  # every requirement pinned: the same install everywhere
        assert r.name == "torch" or str(r.specifier).startswith("=="), r
    # The worker's image keeps PyPI's (CUDA) torch.
    worker, _ = _requirements("requirements-worker.txt")
    assert [str(r.specifier) for r in worker if r.name == "torch"] == ["==2.13.0"]
