"""The pronunciation lexicon: per language, word → phonemes, from the YAML file KOKORO_LEXICON.

    en-us:
      Kokoro: kˈOkəɹO
      RunPod: ɹˈʌnpɑd
    ja:
      鬼滅: kʲimetsɨ

Language keys are catalog codes or aliases; words are matched whole and case-insensitively (CJK
words anywhere), longest first, and become `[word](/phonemes/)` markup (worker/text/markup.py) before
G2P, so a lexicon entry and inline markup are one mechanism. Read and validated once at start-up;
any problem is one LexiconError naming the entry.
"""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from worker.core import settings
from worker.core.catalog import Catalog, default_catalog, read_yaml
from worker.core.errors import SettingsError

_WORD = r"^[^\[\]()/\n]{1,64}$"
_PHONEMES = r"^[^\[\]()/\n]{1,200}$"


class LexiconError(SettingsError):
    """KOKORO_LEXICON names a file that cannot be read or is not a valid lexicon."""


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    word: str = Field(pattern=_WORD)
    phonemes: str = Field(pattern=_PHONEMES)


def validate(raw: object, catalog: Catalog, where: str = "The lexicon") -> dict[str, dict[str, str]]:
    """{language code: {word: phonemes}} from a parsed YAML mapping; LexiconError for the first
    problem, in one sentence."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise LexiconError(f"{where} must map languages to words, e.g. \"en-us: {{Kokoro: kˈOkəɹO}}\".")
    out: dict[str, dict[str, str]] = {}
    for language, words in raw.items():
        code = catalog.language_code(str(language))
        if code is None:
            raise LexiconError(f"{where}: unknown language {language!r}; use one of {', '.join(catalog.languages)}.")
        if not isinstance(words, dict):
            raise LexiconError(f"{where}: {language} must map words to phonemes.")
        for word, phonemes in words.items():
            try:
                entry = _Entry(word=str(word).strip(), phonemes=str(phonemes or "").strip())
            except ValidationError as exc:
                field = exc.errors()[0]["loc"][0]
                raise LexiconError(f"{where}: {language}.{word}: the {field} must be 1 to "
                                   f"{64 if field == 'word' else 200} characters without brackets, "
                                   "parentheses, slashes or line breaks.") from None
            out.setdefault(code, {})[entry.word] = entry.phonemes
    return out


def load(path: str | os.PathLike, catalog: Catalog | None = None) -> dict[str, dict[str, str]]:
    path = Path(path)
    raw = read_yaml(path, "the lexicon", LexiconError)
    return validate(raw, catalog or default_catalog(), f"The lexicon {path}")


@functools.lru_cache(maxsize=1)
def configured() -> dict[str, dict[str, str]]:
    """The lexicon KOKORO_LEXICON names, read once; empty when unset."""
    path = settings.lexicon_path()
    return load(path) if path else {}


def check_sounds(models: list[str] | None = None, catalog: Catalog | None = None) -> None:
    """Start-up's check that the configured lexicon's phonemes are all ones the loaded models have a
    sound for (the symbols of each model's config.json vocab), whether or not warm-up runs: a
    symbol a model lacks would be dropped without a sound. A model not in the cache is skipped
    (its loading reports that). LexiconError naming the entry and the symbols otherwise."""
    entries = configured()
    catalog = catalog or default_catalog()
    for language, words in entries.items():
        for word, phonemes in words.items():
            if problem := soundless(language, phonemes, catalog, models):
                raise LexiconError(f"The lexicon {settings.lexicon_path()}: {language}.{word}: {problem}")


def soundless(language: str, phonemes: str, catalog: Catalog, models: list[str] | None = None) -> str | None:
    """What in `phonemes` a model that speaks `language` has no sound for, as the end of an error
    sentence; None when every symbol is one (or no such model is in the cache to ask)."""
    for name in models if models is not None else settings.models(list(catalog.models)):
        if language not in {voice.language for voice in catalog.voices if voice.model == name}:
            continue
        vocab = _vocab(catalog, name)
        if vocab is not None and (unknown := sorted({ch for ch in phonemes if ch not in vocab and not ch.isspace()})):
            return (f"{', '.join(repr(c) for c in unknown)} has no sound in Kokoro {name}; use its phoneme "
                    "symbols (a synthesis's phonemes show them).")
    return None


def _vocab(catalog: Catalog, name: str) -> set[str] | None:
    """The phoneme symbols of a model (its cached config.json), or None where it is not cached."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        config = hf_hub_download(catalog.models[name].repo_id, "config.json", local_files_only=True)
        return set(json.loads(Path(config).read_text(encoding="utf-8"))["vocab"])
    except (LocalEntryNotFoundError, OSError, ValueError, KeyError):
        return None


def to_yaml(entries: dict[str, dict[str, str]]) -> str:
    """A lexicon file's text (the studio's export)."""
    return yaml.safe_dump(entries, allow_unicode=True, sort_keys=True)
