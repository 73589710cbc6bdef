import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO, worker_env
from worker.core.catalog import load_catalog
from worker.core.errors import CatalogError


def test_models_languages_and_counts(catalog):
    assert set(catalog.models) == {"v1.0", "v1.1-zh"}
    assert catalog.models["v1.0"].repo_id == "hexgrad/Kokoro-82M"
    assert catalog.models["v1.1-zh"].languages == ["en-us", "en-gb", "zh"]
    assert list(catalog.languages) == ["en-us", "en-gb", "es", "fr", "hi", "it", "ja", "pt-br", "zh"]
    assert "".join(lang.kokoro_code for lang in catalog.languages.values()) == "abefhijpz"
    assert catalog.language_code("FR-FR") == "fr" and catalog.language_code("pt-BR") == "pt-br"
    by_model = {m: [v for v in catalog.voices if v.model == m] for m in catalog.models}
    assert len(by_model["v1.0"]) == 54 and len(by_model["v1.1-zh"]) == 103
    assert len(catalog.voices_for("zh")) == 108
    assert all(lang.sample and lang.native_name for lang in catalog.languages.values())


def test_published_grades_and_hashes(catalog):
    heart = catalog.voice("af_heart")
    assert (heart.grade, heart.sha256, heart.gender, heart.target) == ("A", "0ab5709b", "female", None)
    bella = catalog.voice("af_bella")
    assert (bella.target, bella.duration, bella.grade) == ("A", "HH hours", "A-")
    assert catalog.voice("af_nicole").traits == "whispering, mid voice"
    assert catalog.voice("ef_dora").grade is None
    assert catalog.best_voice("en-us").id == "af_heart"
    assert catalog.best_voice("en-gb").id == "bf_emma"
    grades = [v.grade_rank for v in catalog.voices_for("en-us")]
    assert grades == sorted(grades)


def test_v11_ids_are_the_published_files_not_a_range(catalog):
    ids = {v.id for v in catalog.voices if v.model == "v1.1-zh" and v.language == "zh"}
    assert len([i for i in ids if i.startswith("zf_")]) == 55
    assert len([i for i in ids if i.startswith("zm_")]) == 45
    assert {"zf_001", "zf_099", "zm_009", "zm_100"} <= ids
    assert not {"zf_009", "zf_050", "zm_001"} & ids
    assert catalog.voice("af_maple").model == "v1.1-zh"
    assert catalog.voice("af_heart").model == "v1.0"


def _write(tmp_path, mutate) -> Path:
    data = yaml.safe_load((REPO / "voices.yaml").read_text(encoding="utf-8"))
    mutate(data)
    path = tmp_path / "voices.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def _voice(data, vid):
    return next(v for v in data["voices"] if v["id"] == vid)


@pytest.mark.parametrize("mutate, expected", [
    (lambda d: _voice(d, "af_bella").update(colour="red"), r"af_bella.*colour.*Extra inputs"),
    (lambda d: d["voices"].append(dict(_voice(d, "af_heart"))), r"'af_heart' is listed twice"),
    (lambda d: _voice(d, "af_maple").update(language="ja"), r"af_maple.*'ja' is not served by model 'v1.1-zh'"),
    (lambda d: _voice(d, "am_adam").update(model="v2"), r"am_adam.*unknown model 'v2'"),
    (lambda d: _voice(d, "am_adam").update(gender="robot"), r"am_adam.*gender"),
    (lambda d: _voice(d, "am_adam").update(grade="Z"), r"am_adam.*unknown grade 'Z'"),
    (lambda d: d["models"]["v1.0"]["languages"].append("de"), r"unknown language 'de'"),
    (lambda d: d.update(extra_section=1), r"extra_section.*Extra inputs"),
])
@pytest.mark.hostile
def test_broken_catalog_gives_one_readable_message(tmp_path, mutate, expected):
    with pytest.raises(CatalogError) as info:
        load_catalog(_write(tmp_path, mutate))
    message = str(info.value)
    assert re.search(expected, message), message
    assert "\n" not in message


def test_unreadable_catalog(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("models: [unclosed", encoding="utf-8")
    with pytest.raises(CatalogError, match="not valid YAML"):
        load_catalog(bad)
    with pytest.raises(CatalogError, match="Cannot read"):
        load_catalog(tmp_path / "missing.yaml")


@pytest.mark.slow
@pytest.mark.hostile
def test_worker_refuses_to_start_on_a_broken_catalog(tmp_path):
    path = _write(tmp_path, lambda d: _voice(d, "af_bella").update(colour="red"))
    proc = subprocess.run([sys.executable, str(REPO / "worker" / "handler.py")],
                          env=worker_env(KOKORO_CATALOG=str(path)), capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode != 0
    assert "kokoro worker cannot start: Invalid voice catalog" in proc.stderr
    assert "af_bella" in proc.stderr and "Traceback" not in proc.stderr
