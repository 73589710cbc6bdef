"""The Pronunciations panel (on Generate, under the text): this session's word → phonemes entries, heard before they are kept.

`Pronouncer` holds the handlers (plain methods, tested directly); `build` lays the tab out. The
entries live in a `gr.State` of {language: {word: phonemes}}, the same shape as a KOKORO_LEXICON
file: Generate rewrites its text with them (worker/text/markup.py) before the job goes to the backend,
so they apply locally and on RunPod alike (A/B and Audition do the same, `applied`), and Export writes them as a lexicon file a worker can
load. Each entry is checked by the lexicon file's own rules (worker/text/lexicon.py); "Hear it" speaks
the word with the language's best voice, so a wrong symbol is an error toast, not a surprise.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import gradio as gr

from ui import feedback
from ui.feedback import UNEXPECTED
from ui.studio import choices, files
from ui.studio.clips import ClipMaker
from worker.core.catalog import Catalog
from worker.core.errors import KokoroError
from worker.text import lexicon, markup

log = logging.getLogger("kokoro.ui")
COLUMNS = ["Language", "Word", "Phonemes"]


class Pronouncer:
    def __init__(self, clips: ClipMaker, catalog: Catalog, out_dir: str | Path | None = None):
        self.clips = clips
        self.catalog = catalog
        self.out_dir = Path(out_dir or files.default_dir())

    def _checked(self, language: str, word: str | None, phonemes: str | None) -> tuple[str, str]:
        try:
            entries = lexicon.validate({language: {(word or "").strip(): (phonemes or "").strip()}},
                                       self.catalog, "This pronunciation")
        except KokoroError as exc:
            raise gr.Error(feedback.message(exc), title="Cannot use this pronunciation",
                           print_exception=False) from None
        ((checked_word, checked_phonemes),) = entries[language].items()
        # A symbol the model has no sound for would be dropped without a sound: refused here, at Keep.
        if problem := lexicon.soundless(language, checked_phonemes, self.catalog):
            raise gr.Error(f"This pronunciation: {problem}", title="Cannot use this pronunciation",
                           print_exception=False)
        return checked_word, checked_phonemes

    def hear(self, language: str, word: str | None, phonemes: str | None) -> str:
        """The word said with the given phonemes, by the language's best voice."""
        word, phonemes = self._checked(language, word, phonemes)
        payload = {"text": f"[{word}](/{phonemes}/)", "voice": choices.default_voice(self.catalog, language),
                   "language": language, "speed": 1.0, "format": "wav"}
        try:
            clip = self.clips.make(payload)
        except KokoroError as exc:
            raise gr.Error(feedback.message(exc), title="Cannot say it", print_exception=False) from None
        except Exception:
            log.exception("Hearing a pronunciation failed")
            raise gr.Error(UNEXPECTED, print_exception=False) from None
        path = files.save(self.out_dir, clip.key.file_name, clip.data)
        return str(path)

    def add(self, entries: dict | None, language: str, word: str | None, phonemes: str | None):
        """Keeps the entry (replacing the word's earlier one in that language)."""
        word, phonemes = self._checked(language, word, phonemes)
        entries = {lang: dict(words) for lang, words in (entries or {}).items()}
        entries.setdefault(language, {})[word] = phonemes
        return entries, rows(entries), gr.update(value=None, visible=False)

    def remove(self, entries: dict | None, language: str, word: str | None):
        entries = {lang: dict(words) for lang, words in (entries or {}).items()}
        entries.get(language, {}).pop((word or "").strip(), None)
        entries = {lang: words for lang, words in entries.items() if words}
        return entries, rows(entries), gr.update(value=None, visible=False)

    def export(self, entries: dict | None):
        """The entries as a lexicon file (KOKORO_LEXICON) to download."""
        if not entries:
            raise gr.Error("There are no pronunciations to export yet; add one first.", print_exception=False)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        path = Path(tempfile.mkdtemp(dir=self.out_dir)) / "lexicon.yaml"
        path.write_text(lexicon.to_yaml(entries), encoding="utf-8")
        return gr.update(value=str(path), visible=True)


def applied(text: str | None, language: str | None, entries: dict | None) -> str:
    """The text a job sends: the session's words of that language written as markup, so the local
    engine and any RunPod worker speak them the same way."""
    return markup.with_lexicon(text or "", (entries or {}).get(language or "", {}))


def rows(entries: dict | None) -> list[list[str]]:
    return [[lang, word, phonemes] for lang, words in sorted((entries or {}).items())
            for word, phonemes in sorted(words.items())]


def build(pronouncer: Pronouncer, state: gr.State, language_dd: gr.Dropdown) -> None:
    """Word → phonemes for this session, in the language chosen above: hear it, keep it, export."""
    gr.Markdown("Words a voice gets wrong: write their phonemes (Kokoro's symbols, as the Phonemes box "
                "shows them), hear the result, keep it. Kept words apply to this session's Generate, A/B and "
                "Audition jobs; "
                "**Export** saves them as a `KOKORO_LEXICON` file for a worker. In the text itself you "
                "can also write `[word](/phonemes/)` and `[pause:1.5s]`.")
    with gr.Row():
        word = gr.Textbox(label="Word", placeholder="Kokoro", scale=1)
        phonemes = gr.Textbox(label="Phonemes", placeholder="kˈOkəɹO", scale=2)
    with gr.Row():
        hear_btn = gr.Button("Hear it", variant="secondary")
        add_btn = gr.Button("Keep", variant="primary")
        remove_btn = gr.Button("Remove", variant="stop")
    heard = gr.Audio(label="Heard", interactive=False, autoplay=True, elem_id="pronunciation-audio")
    table = gr.Dataframe(headers=COLUMNS, value=[], interactive=False, label="This session's pronunciations",
                         elem_id="pronunciations")
    with gr.Row():
        export_btn = gr.Button("Export lexicon (YAML)")
    exported = gr.File(label="Lexicon file", visible=False, interactive=False, elem_classes=["handout"])

    hear_btn.click(pronouncer.hear, [language_dd, word, phonemes], heard, api_visibility="private",
                   concurrency_id="synthesis")
    add_btn.click(pronouncer.add, [state, language_dd, word, phonemes], [state, table, exported],
                  api_visibility="private", queue=False)
    remove_btn.click(pronouncer.remove, [state, language_dd, word], [state, table, exported],
                     api_visibility="private", queue=False)
    export_btn.click(pronouncer.export, state, exported, api_visibility="private", queue=False)
