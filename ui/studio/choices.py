"""What the Generate form offers: language, model and voice choices and the sample text, from the catalog.

Pure functions of `worker.core.catalog.Catalog` (no Gradio), so the dropdown contents are unit-tested
without a browser. Voices come from `catalog.voices_for(language)`, already best grade first.
"""

from __future__ import annotations

from worker.core.catalog import Catalog, Voice

ALL_MODELS = "All"


def language_label(catalog: Catalog, code: str) -> str:
    """'日本語 — Japanese': the native name first, because that is what a speaker looks for."""
    lang = catalog.languages[code]
    if lang.native_name == lang.name:
        return lang.name
    return f"{lang.native_name} — {lang.name}"


def language_choices(catalog: Catalog) -> list[tuple[str, str]]:
    """(label, code) for every catalog language, in catalog order."""
    return [(language_label(catalog, code), code) for code in catalog.languages]


def voice_label(voice: Voice) -> str:
    """'af_heart — female · grade A · v1.0': id first (what the API takes), then what tells voices apart."""
    grade = f"grade {voice.grade}" if voice.grade else "ungraded"
    return f"{voice.id} — {voice.gender} · {grade} · {voice.model}"


def model_choices(catalog: Catalog, language: str) -> list[str]:
    """'All' plus each model that has voices of this language (only Chinese and English have two)."""
    models = [m for m in catalog.models if catalog.voices_for(language, m)]
    return [ALL_MODELS, *models]


def voices(catalog: Catalog, language: str, model: str | None = None) -> list[Voice]:
    """The language's own voices, best grade first; `model` None or 'All' means every model."""
    return catalog.voices_for(language, None if model in (None, "", ALL_MODELS) else model)


def voice_choices(catalog: Catalog, language: str, model: str | None = None) -> list[tuple[str, str]]:
    """(label, id) pairs for the Voice dropdown."""
    return [(voice_label(v), v.id) for v in voices(catalog, language, model)]


def default_voice(catalog: Catalog, language: str, model: str | None = None) -> str:
    """The best-graded voice of the language (of that model, when one is chosen)."""
    found = voices(catalog, language, model)
    return found[0].id if found else catalog.best_voice(language).id


def sample_text(catalog: Catalog, language: str) -> str:
    return catalog.languages[language].sample


def text_after_language_change(catalog: Catalog, language: str, current: str | None) -> str:
    """The Text box after the language changes.

    Our choice: the new language's sample replaces the text only while the box holds no text of
    the user's own, i.e. it is empty or still one of the catalog's sample sentences. Typed or
    pasted text is never thrown away by a dropdown.
    """
    mine = (current or "").strip()
    samples = {lang.sample.strip() for lang in catalog.languages.values()}
    if not mine or mine in samples:
        return sample_text(catalog, language)
    return current or ""
