"""The catalog: models, languages and voices, read once from voices.yaml and validated.

Its one job is to answer "what exists": which voice belongs to which model, which languages a
model serves, and the published grades. It loads no weights and knows no G2P.
"""

from __future__ import annotations

import difflib
import functools
import os
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from worker.core import settings
from worker.core.errors import CatalogError, KokoroError

DEFAULT_PATH = Path(__file__).resolve().parents[2] / "voices.yaml"

# Published overall grades, best first; unpublished (None) sorts last.
GRADE_ORDER = ["A", "A-", "B+", "B", "B-", "C+", "C", "C-", "D+", "D", "D-", "F+", "F"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Model(_Strict):
    repo_id: str
    weights: str
    languages: list[str]


class Language(_Strict):
    kokoro_code: str = Field(pattern=r"^[abefhijpz]$")
    name: str
    native_name: str
    aliases: list[str] = []
    sample: str


class Voice(_Strict):
    id: str = Field(pattern=r"^[a-z]{2}_[a-z0-9]+$")
    model: str
    language: str
    gender: Literal["female", "male"]
    traits: str
    target: str | None = None
    duration: str | None = None
    grade: str | None = None
    sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{8}$")

    @property
    def grade_rank(self) -> int:
        return GRADE_ORDER.index(self.grade) if self.grade in GRADE_ORDER else len(GRADE_ORDER)


class Catalog(_Strict):
    models: dict[str, Model]
    languages: dict[str, Language]
    voices: list[Voice]

    @model_validator(mode="after")
    def _consistent(self) -> "Catalog":
        seen: set[str] = set()
        for name, model in self.models.items():
            for lang in model.languages:
                if lang not in self.languages:
                    raise ValueError(f"model {name!r} lists unknown language {lang!r}")
        for voice in self.voices:
            where = f"voice {voice.id!r}"
            if voice.id in seen:
                raise ValueError(f"{where} is listed twice")
            seen.add(voice.id)
            if voice.model not in self.models:
                raise ValueError(f"{where} names unknown model {voice.model!r}")
            if voice.language not in self.languages:
                raise ValueError(f"{where} names unknown language {voice.language!r}")
            if voice.language not in self.models[voice.model].languages:
                raise ValueError(
                    f"{where}: its language {voice.language!r} is not served by model {voice.model!r}"
                )
            if voice.grade is not None and voice.grade not in GRADE_ORDER:
                raise ValueError(f"{where} has unknown grade {voice.grade!r}")
        return self

    # --- look-ups -------------------------------------------------------------------------

    @functools.cached_property
    def _by_id(self) -> dict[str, Voice]:
        return {v.id: v for v in self.voices}

    def voice(self, voice_id: str) -> Voice | None:
        return self._by_id.get(voice_id)

    def similar_voices(self, voice_id: str, n: int = 3) -> list[str]:
        return difflib.get_close_matches(voice_id, list(self._by_id), n=n, cutoff=0.6)

    def language_code(self, text: str) -> str | None:
        """The canonical language code for a code or alias, case-insensitive; None if unknown."""
        key = text.strip().lower()
        for code, lang in self.languages.items():
            if key == code or key in lang.aliases:
                return code
        return None

    def voices_for(self, language: str, model: str | None = None) -> list[Voice]:
        """The voices whose own language is `language`, best published grade first."""
        found = [
            v for v in self.voices if v.language == language and (model is None or v.model == model)
        ]
        return sorted(found, key=lambda v: (v.grade_rank, v.model, v.id))

    def best_voice(self, language: str) -> Voice:
        return self.voices_for(language)[0]


def _first_error(exc: ValidationError, raw: dict) -> str:
    err = exc.errors()[0]
    loc = err["loc"]
    if len(loc) >= 2 and loc[0] == "voices" and isinstance(loc[1], int):
        entry = (raw.get("voices") or [])[loc[1]]
        name = entry.get("id") if isinstance(entry, dict) else None
        loc = ("voices", f"#{loc[1] + 1} ({name})" if name else f"#{loc[1] + 1}", *loc[2:])
    where = ".".join(str(p) for p in loc)
    msg = err["msg"].removeprefix("Value error, ")
    return f"{where}: {msg}" if where else msg


MAX_YAML_BYTES = 4 * 1024 * 1024  # the catalog is ~27 KB; a file far past this is not one of ours


def read_yaml(path: Path, what: str, error: type[KokoroError]) -> object:
    """A YAML file's content; an unreadable, oversized, binary or malformed file is one line of
    `error` naming `what` it is (start-up prints it as is: no caret diagram, no traceback)."""
    named = f"{what[0].upper()}{what[1:]} {path}"
    try:
        size = path.stat().st_size
        if size > MAX_YAML_BYTES:
            raise error(f"{named} is {size / 1e6:.0f} MB; it must be at most {MAX_YAML_BYTES // 2**20} MB of YAML text.")
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise error(f"Cannot read {what} {path}: {exc.strerror}.") from None
    except UnicodeDecodeError:
        raise error(f"{named} is not UTF-8 text (a binary file?).") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = " ".join(str(getattr(exc, "problem", None) or exc).split())
        raise error(f"{named} is not valid YAML: {where}{problem}.") from None


def load_catalog(path: str | os.PathLike | None = None) -> Catalog:
    """Read and validate the catalog; any problem becomes one CatalogError naming the bad entry."""
    path = Path(path or settings.catalog_path() or DEFAULT_PATH)
    raw = read_yaml(path, "the voice catalog", CatalogError)
    if not isinstance(raw, dict):
        raise CatalogError(f"The voice catalog {path} must be a mapping with models, languages, voices.")
    try:
        catalog = Catalog.model_validate(raw)
    except ValidationError as exc:
        raise CatalogError(f"Invalid voice catalog {path}: {_first_error(exc, raw)}") from None
    return catalog


@functools.lru_cache(maxsize=1)
def default_catalog() -> Catalog:
    """The process-wide catalog, loaded once."""
    return load_catalog()
