"""The folder data source: your own pictures, read as a model should see them."""

import os

import numpy as np
import pytest
from PIL import Image

from tfimagegen import data, files, folder


@pytest.fixture(autouse=True)
def own_cache(tmp_path_factory, monkeypatch):
    """A cache of this test's own, outside the folders it reads."""
    monkeypatch.setenv(files.CACHE_ENV, str(tmp_path_factory.mktemp("cache")))


def square(colour, size=40, mode="RGB"):
    return Image.new(mode, (size, size), colour)


def colour_folder(root, per_class=5):
    """Two class folders of flat colours, each image different, one nested a level deeper."""
    for name, base in (("cats", (200, 30, 30)), ("dogs", (30, 30, 200))):
        (root / name / "more").mkdir(parents=True)
        for i in range(per_class):
            where = root / name / ("more" if i == 0 else "") / f"{i}.png"
            square((base[0], base[1] + 10 * i, base[2])).save(where)
    return root


def test_transparency_is_composited_on_white_not_black(tmp_path):
    rgba = Image.new("RGBA", (40, 40), (0, 0, 0, 0))
    rgba.paste((255, 0, 0, 255), (10, 10, 30, 30))
    rgba.save(tmp_path / "a.png")
    palette = rgba.convert("P")  # palette transparency
    palette.info["transparency"] = palette.getpixel((0, 0))
    palette.save(tmp_path / "p.png", transparency=palette.getpixel((0, 0)))
    for name in ("a.png", "p.png"):
        x, upscaled = folder.read_image(tmp_path / name, 32)
        assert tuple(x[0, 0]) == (255, 255, 255), name
        assert tuple(x[16, 16]) == (255, 0, 0) and not upscaled, name


def test_exif_orientation_is_applied(tmp_path):
    img = Image.new("RGB", (40, 20), (255, 0, 0))
    img.paste((0, 0, 255), (20, 0, 40, 20))  # left red, right blue
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    img.save(tmp_path / "phone.jpg", exif=exif, quality=95)
    x, _ = folder.read_image(tmp_path / "phone.jpg", 40, fit="pad")
    assert x[10, 20, 0] > 200 and x[10, 20, 2] < 60  # red on top once turned
    assert x[30, 20, 2] > 200 and x[30, 20, 0] < 60  # blue below
    assert tuple(x[20, 2]) == (255, 255, 255)  # padded at the sides


def test_cmyk_16_bit_and_icc_images_are_converted_by_meaning(tmp_path):
    Image.new("CMYK", (40, 40), (0, 0, 0, 0)).save(tmp_path / "cmyk.jpg")
    assert folder.read_image(tmp_path / "cmyk.jpg", 16)[0].min() > 250  # no ink is white
    wide = Image.fromarray(np.full((40, 40), 32896, np.uint16))  # half of 65535
    wide.save(tmp_path / "wide.png")
    assert abs(int(folder.read_image(tmp_path / "wide.png", 16)[0][8, 8, 0]) - 128) <= 1
    from PIL import ImageCms

    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    square((10, 200, 60)).save(tmp_path / "icc.png", icc_profile=srgb)
    x, _ = folder.read_image(tmp_path / "icc.png", 16)
    assert np.abs(x[8, 8].astype(int) - (10, 200, 60)).max() <= 2


def test_crop_keeps_the_centre_pad_keeps_everything_and_small_images_are_upscaled(tmp_path):
    img = Image.new("RGB", (60, 20), (0, 255, 0))
    img.paste((255, 0, 0), (0, 0, 20, 20))
    img.save(tmp_path / "wide.png")
    cropped, small = folder.read_image(tmp_path / "wide.png", 16, fit="crop")
    assert cropped[:, :, 1].min() > 250 and not small  # the green centre only
    padded, _ = folder.read_image(tmp_path / "wide.png", 16, fit="pad")
    assert tuple(padded[0, 8]) == (255, 255, 255) and padded[8, 1, 0] > 200
    assert folder.read_image(tmp_path / "wide.png", 32)[1]  # a 20-px square, upscaled


def test_an_animated_gif_gives_its_first_frame(tmp_path):
    frames = [square((255, 0, 0), mode="RGB").convert("P"), square((0, 0, 255)).convert("P")]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:], duration=100)
    x, _ = folder.read_image(tmp_path / "anim.gif", 16)
    assert x[8, 8, 0] > 200 and x[8, 8, 2] < 60


def test_a_grey_folder_stays_one_channel_unless_asked(tmp_path):
    for i in range(6):
        square(40 * i, mode="L").save(tmp_path / f"{i}.png")
    x, labels, names = folder.load(tmp_path, "all")
    assert x.shape == (6, 32, 32, 1) and labels is None and names == ()
    assert folder.load(tmp_path, "all", channels=3)[0].shape == (6, 32, 32, 3)
    colour_root = colour_folder(tmp_path / "colour")
    assert folder.load(colour_root, "all")[0].shape[-1] == 3
    assert folder.load(colour_root, "all", channels=1)[0].shape[-1] == 1


def test_class_folders_give_sorted_labels_and_deeper_files_their_top_class(tmp_path, capsys):
    root = colour_folder(tmp_path / "pets")
    square((0, 0, 0)).save(root / "loose.png")
    x, labels, names = folder.load(root, "all")
    assert names == ("cats", "dogs") and np.array_equal(np.bincount(labels), [5, 5])
    assert np.all(x[labels == 0][..., 0] > 150) and np.all(x[labels == 1][..., 2] > 150)
    assert "set aside 1 files beside the class folders" in capsys.readouterr().err


def test_unreadable_files_are_skipped_and_counted_in_one_line(tmp_path, capsys):
    for i in range(4):
        square((50 * i, 0, 0)).save(tmp_path / f"{i}.png")
    (tmp_path / "notes.txt").write_text("not a picture")
    good = (tmp_path / "0.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(good[: len(good) // 2])
    x, _, _ = folder.load(tmp_path, "all")
    assert len(x) == 4
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "skipped 2 of 6 files that are not images Pillow can read" in err[0]


def test_a_decompression_bomb_is_refused_from_its_header(tmp_path):
    Image.new("1", (8000, 7000)).save(tmp_path / "bomb.png")
    with pytest.raises(ValueError, match="8000x7000 pixels, above 50,000,000"):
        folder.read_image(tmp_path / "bomb.png")


def test_exact_duplicates_fall_in_one_split(tmp_path):
    rng = np.random.default_rng(0)
    for i in range(30):
        Image.fromarray(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(
            tmp_path / f"{i:02d}.png")
    for i in range(8):
        (tmp_path / f"copy{i}.png").write_bytes((tmp_path / "00.png").read_bytes())
    original = folder.read_image(tmp_path / "00.png", 32)[0]
    found = {s: folder.load(tmp_path, s)[0] for s in ("train", "validation", "test")}
    assert sum(len(x) for x in found.values()) == 38
    holding = [s for s, x in found.items() if any(np.array_equal(i, original) for i in x)]
    assert len(holding) == 1
    assert sum(np.array_equal(i, original) for i in found[holding[0]]) == 9
    assert len(found["test"]) >= 6 and len(found["validation"]) >= 3


def test_a_decoded_folder_is_cached_by_its_files(tmp_path, monkeypatch):
    root = colour_folder(tmp_path / "pets")
    first = folder.load(root, "train")[0]

    def refuse(*args, **kwargs):
        raise AssertionError("decoded again instead of reading the cache")

    with monkeypatch.context() as patch:
        patch.setattr(folder, "read_image", refuse)
        assert np.array_equal(folder.load(root, "train")[0], first)
        touched = root / "cats" / "1.png"
        os.utime(touched, ns=(0, 0))  # another modification time: another key
        with pytest.raises(AssertionError, match="decoded again"):
            folder.load(root, "train")


@pytest.mark.parametrize("setup, kwargs, message", [
    ("missing", {}, "no such folder"),
    ("file", {}, "is a file; give a folder of images"),
    ("empty", {}, "holds no files"),
    ("text", {}, "none of its 1 files is an image Pillow can read"),
    ("small class", {"split": "train"}, "class 'dogs' has 2 distinct images; a split needs at "
                                        "least 3"),
    ("loop", {}, "(a symlink loop)"),
    ("pets", {"image_size": 4}, "--image-size must be an int in [8, 512], got 4"),
    ("pets", {"fit": "stretch"}, "--fit must be one of crop, pad, got 'stretch'"),
    ("pets", {"channels": 2}, "--channels must be 1 or 3, got 2"),
    ("pets", {"split": "compositions"}, "--split for a folder must be one of train, validation, "
                                        "test, all"),
])
def test_bad_folders_and_settings_are_one_line_errors(tmp_path, setup, kwargs, message):
    root = tmp_path / "data"
    if setup == "file":
        root.write_text("x")
    elif setup in ("empty", "text"):
        root.mkdir()
        if setup == "text":
            (root / "a.txt").write_text("x")
    elif setup == "small class":
        colour_folder(root)
        for extra in ("1.png", "2.png", "3.png"):
            (root / "dogs" / extra).unlink()
    elif setup == "loop":
        (root / "a").mkdir(parents=True)
        square((1, 2, 3)).save(root / "a" / "x.png")
        (root / "a" / "again").symlink_to(root / "a")
    elif setup == "pets":
        colour_folder(root)
    with pytest.raises(ValueError) as error:
        folder.load(root, **{"split": "all", **kwargs})
    assert message in str(error.value) and "\n" not in str(error.value)


def test_load_source_reads_a_folder_like_any_source(tmp_path):
    root = colour_folder(tmp_path / "pets")
    split = data.load_source(str(root), "all", image_size=16, fit="pad")
    assert split.images.shape == (10, 16, 16, 3) and split.class_names == ("cats", "dogs")
    with pytest.raises(ValueError, match="--fit applies to image folders only"):
        data.load_source("mnist", "train", fit="pad")
