"""The clip cache: its key, its size bound, and that a cached clip costs no synthesis."""

from __future__ import annotations

import pytest

from ui.backends import LocalBackend
from ui.studio.clips import Clip, ClipCache, ClipKey, ClipMaker, cache_bytes_from_env
from worker.core.errors import InputError, SettingsError


def clip(n: int, size: int = 100) -> Clip:
    return Clip(ClipKey("v1.0", f"voice{n}", "en-us", "Hi.", 1.0, "wav"), "en-us", bytes(size), 1.0, 0.1)


def test_the_cache_never_holds_more_than_its_bound_and_drops_the_least_recent():
    cache = ClipCache(max_bytes=350)
    for n in range(3):
        cache.put(clip(n))
    assert cache.get(clip(0).key) is not None  # 0 is now the most recently used
    cache.put(clip(3))
    assert cache.size_bytes == 300 <= cache.max_bytes
    assert clip(1).key not in cache  # the least recently used went
    assert all(clip(n).key in cache for n in (0, 2, 3))
    for n in range(4, 40):
        cache.put(clip(n))
        assert cache.size_bytes <= 350 and len(cache) <= 3


def test_replacing_a_clip_counts_it_once_and_oversize_clips_are_not_kept():
    cache = ClipCache(max_bytes=1000)
    cache.put(clip(1, 400))
    cache.put(clip(1, 500))
    assert cache.size_bytes == 500 and len(cache) == 1
    cache.put(clip(2, 5000))
    assert clip(2).key not in cache and cache.size_bytes == 500


def test_the_bound_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("KOKORO_CLIP_CACHE_MB", "1.5")
    assert cache_bytes_from_env() == int(1.5 * 1024 * 1024)
    monkeypatch.delenv("KOKORO_CLIP_CACHE_MB")
    assert cache_bytes_from_env() == 256 * 1024 * 1024
    monkeypatch.setenv("KOKORO_CLIP_CACHE_MB", "lots")  # one rule for every setting: a clear error
    with pytest.raises(SettingsError, match="KOKORO_CLIP_CACHE_MB='lots' is not a size in MB"):
        cache_bytes_from_env()


class CountingBackend(LocalBackend):
    """The real local backend, counting its runs."""

    runs = 0

    def run(self, payload, should_stop):
        CountingBackend.runs += 1
        yield from super().run(payload, should_stop)


@pytest.fixture
def maker(engine, catalog):
    CountingBackend.runs = 0
    return ClipMaker(CountingBackend(engine), catalog, ClipCache(max_bytes=50 * 1024 * 1024))


def payload(**changes) -> dict:
    return {"text": "Hi there.", "voice": "af_heart", "language": "en-us", "speed": 1.0, "format": "wav",
            **changes}


def test_a_second_request_comes_from_the_cache_without_synthesis(maker):
    first = maker.make(payload())
    again = maker.make(payload(text="Hi there."))
    assert CountingBackend.runs == 1 and not first.cached and again.cached
    assert again.data == first.data and first.duration_s > 0.3
    # Every part of the key matters: speed, format, voice (and model through it), language.
    maker.make(payload(speed=1.5))
    maker.make(payload(format="flac"))
    maker.make(payload(voice="af_bella"))
    assert CountingBackend.runs == 4
    gb, us = maker.make(payload(voice="bf_emma", language="en-gb")), maker.make(payload(voice="bf_emma"))
    assert CountingBackend.runs == 6 and (gb.language, us.language) == ("en-gb", "en-us")
    assert gb.key.file_name == "en-gb_bf_emma.wav" and gb.key.digest != us.key.digest


def test_blend_specs_are_normalised_into_one_key(maker):
    assert maker.key(payload(voice="af_heart:1,af_bella:1")) == maker.key(payload(voice="af_heart:0.5,af_bella:0.5"))
    with pytest.raises(InputError, match="af_nobody"):
        maker.key(payload(voice="af_nobody"))


def test_make_many_reports_each_failure_and_still_makes_the_rest(maker):
    maker.make(payload(voice="am_adam"))
    results = dict(maker.make_many([payload(voice="af_sky"), payload(voice="af_nobody"), payload(voice="am_adam")]))
    assert isinstance(results[1], InputError)
    assert results[2].cached and not results[0].cached
    assert CountingBackend.runs == 2


def test_with_batched_voices_one_text_is_spoken_in_one_pass(engine, catalog, monkeypatch):
    from worker.model import batching

    monkeypatch.setenv("KOKORO_BATCH_VOICES", "true")
    passes = []
    real = batching.forward_many
    monkeypatch.setattr(batching, "forward_many", lambda *a, **kw: passes.append(len(a[2])) or real(*a, **kw))
    maker = ClipMaker(LocalBackend(engine), catalog, ClipCache(max_bytes=50 * 1024 * 1024))
    voices = ["af_sky", "af_nobody", "am_adam", "bf_emma"]
    results = dict(maker.make_many([payload(voice=v) for v in voices]))
    assert isinstance(results[1], InputError)
    assert passes == [3]  # "Hi there." is one chunk: three voices, one forward pass
    for i in (0, 2, 3):
        assert results[i].key.voice == voices[i] and results[i].duration_s > 0.3 and not results[i].cached
    again = dict(maker.make_many([payload(voice=v) for v in ("af_sky", "bf_emma")]))
    assert all(c.cached for c in again.values()) and passes == [3]
