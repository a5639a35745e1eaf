"""The emoji data source: OpenMoji glyphs with Unicode names, split by base emoji."""

import numpy as np
import pytest

from tfimagegen import emoji, files, metrics


@pytest.fixture(scope="module")
def splits():
    return emoji.split_indices()


def test_entries_are_the_fully_qualified_emoji_in_nine_groups():
    found = emoji.entries()
    assert 3800 < len(found) < 4100  # Emoji 17.0: ~3,900 once "Component" is dropped
    assert {e.group for e in found} == set(emoji.GROUPS)
    assert len({e.sequence for e in found}) == len(found)
    names = {e.name: e for e in found}
    assert names["woman pilot: dark skin tone"].base == "woman pilot"
    assert names["grinning face"].tone == ""


@pytest.mark.parametrize("name, base, tone", [
    ("grinning face", "grinning face", ""),
    ("woman pilot: dark skin tone", "woman pilot", "dark skin tone"),
    ("kiss: woman, man, light skin tone, dark skin tone", "kiss: woman, man",
     "light skin tone, dark skin tone"),
    ("people holding hands: medium skin tone", "people holding hands", "medium skin tone"),
    ("flag: United Kingdom", "flag: United Kingdom", ""),
    ("keycap: #", "keycap: #", ""),
])
def test_base_and_tone_removes_only_skin_tones(name, base, tone):
    assert emoji.base_and_tone(name) == (base, tone)


def test_splits_are_by_base_and_stratified_by_group(splits):
    found = emoji.entries()
    named = ("train", "validation", "test", "compositions")
    every = np.concatenate([splits[s] for s in named])
    assert sorted(every) == list(range(len(found)))  # each emoji in exactly one split
    bases = {s: {found[i].base for i in splits[s]} for s in named}
    assert not bases["train"] & bases["validation"]
    assert not bases["train"] & bases["test"] and not bases["validation"] & bases["test"]
    assert bases["compositions"] <= bases["train"]  # unseen pairs of seen bases
    assert all(found[i].tone for i in splits["compositions"])
    toned = sum(bool(found[i].tone) for s in ("train", "compositions") for i in splits[s])
    assert len(splits["compositions"]) == round(0.1 * toned)
    unit = emoji.base_units()
    units = {s: {unit[b] for b in bases[s]} for s in named}
    dealt_in = {}  # a unit of alike-drawn bases is dealt with the first group it appears in
    for group in emoji.GROUPS:
        for e in found:
            if e.group == group:
                dealt_in.setdefault(unit[e.base], group)
    for group in emoji.GROUPS:  # 70 / 10 / 20 % of the units per group
        counts = {s: sum(dealt_in[u] == group for u in units[s]) for s in named[:3]}
        total = sum(counts.values())
        assert counts["test"] == max(1, round(0.2 * total)), group
        assert counts["validation"] == max(1, round(0.1 * total)), group
    assert 700 < len(splits["test"]) < 900


def test_no_held_out_glyph_is_drawn_alike_a_training_one(splits):
    images = emoji.render(emoji.DEFAULT_SIZE)
    for split in ("validation", "test"):
        nearest = metrics.nearest_training(images[splits[split]], images[splits["train"]])[1]
        assert nearest.min() >= emoji.ALIKE, split
    alike = emoji.base_units()
    assert alike["man kneeling"] == alike["person kneeling"] != alike["woman kneeling"]
    assert alike["pilot"] == alike["man pilot"]


def test_load_gives_colour_squares_on_white_with_captions(tmp_path):
    x, y, names, captions = emoji.load("test")
    assert x.dtype == np.uint8 and x.shape == (len(y), 32, 32, 3)
    assert names == emoji.GROUPS and y.dtype == np.int32 and set(y) == set(range(9))
    assert len(captions) == len(x)
    corners = x[:, [0, 0, -1, -1], [0, -1, 0, -1]]
    assert np.mean(corners == 255) > 0.95  # composited on white, not black
    saturation = x.max(-1).astype(int) - x.min(-1)
    assert np.mean(saturation > 60) > 0.1  # colour, not grey


def test_skin_tones_are_drawn_as_one_glyph_each():
    found = emoji.entries()
    everything, *_ = emoji.load("all")
    tones = [i for i, e in enumerate(found) if e.base == "waving hand"]
    assert len(tones) == 6  # the yellow default and five tones
    colours = everything[tones].reshape(len(tones), -1, 3).mean(1)
    assert min(np.abs(a - b).sum() for i, a in enumerate(colours) for b in colours[i + 1:]) > 3


def test_render_is_cached_outside_the_package(monkeypatch, tmp_path):
    monkeypatch.setenv(files.CACHE_ENV, str(tmp_path))
    first = emoji.render(16)
    assert first.shape[1:] == (16, 16, 3)
    cached = list(tmp_path.glob("emoji-16px-*.npz"))
    assert len(cached) == 1

    def refuse(*args):
        raise AssertionError("drew again instead of reading the cache")

    monkeypatch.setattr(emoji, "_draw", refuse)
    assert np.array_equal(emoji.render(16), first)


def test_without_raqm_emoji_are_refused_in_one_line(monkeypatch):
    from PIL import features

    monkeypatch.setattr(features, "check", lambda name: False)
    with pytest.raises(RuntimeError) as error:
        emoji.load("train")
    message = str(error.value)
    assert "raqm" in message and "FriBiDi" in message and "\n" not in message


@pytest.mark.parametrize("kwargs, message", [
    ({"split": "everything"}, "split must be one of train, validation, test, compositions, all"),
    ({"image_size": 4}, "--image-size must be an int in [8, 256], got 4"),
    ({"image_size": 32.0}, "--image-size must be an int in [8, 256], got 32.0"),
])
def test_bad_arguments_are_named(kwargs, message):
    with pytest.raises(ValueError) as error:
        emoji.load(**kwargs)
    assert message in str(error.value)
