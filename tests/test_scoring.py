"""Scoring any images: SWD with its floor, a feature space per source, evaluate --data."""

import json

import numpy as np
import pytest
from PIL import Image

from tfimagegen import apply, data, features, metrics, rundata, swd
from tfimagegen.__main__ import main


def test_pyramid_levels_halve_down_to_16_px():
    for side, sides in ((16, [16]), (28, [28, 14]), (32, [32, 16]), (64, [64, 32, 16])):
        levels = swd.laplacian_pyramid(np.zeros((2, side, side, 3), np.float32))
        assert [level.shape[1] for level in levels] == sides
    flat = np.full((1, 32, 32, 1), 0.5, np.float32)
    band, coarse = swd.laplacian_pyramid(flat)
    np.testing.assert_allclose(band, 0, atol=1e-6)  # a flat image has no edges
    np.testing.assert_allclose(coarse, 0.5, atol=1e-6)


def test_swd_is_zero_for_the_same_images_and_sees_noise_and_colour_casts():
    test = data.to_unit_digits(data.embedded_split("test")[0])[:300]
    other = data.to_unit_digits(data.embedded_split("train")[0])[:300]
    noisy = np.clip(test + np.random.default_rng(0).normal(0, 0.2, test.shape), 0, 1)
    darker = test * 0.6  # each set normalised by its own statistics, ProGAN's way, hides this
    same, floor, noise, cast = swd.swd(test, test, other, noisy, darker)
    assert same["swd"] == 0 and len(same["levels"]) == 2
    assert 0 < floor["swd"] < noise["swd"] / 3
    assert cast["swd"] > 2 * floor["swd"]
    assert swd.swd(test, other, seed=1)[0] != floor  # the seed picks patches and directions
    with pytest.raises(ValueError, match="must have the reference's shape"):
        swd.swd(test, other[:200])


def test_the_classifier_grows_a_level_per_halving():
    for shape, strided in (((16, 16, 3), 1), ((32, 32, 3), 2), ((64, 64, 1), 3)):
        model = features.make_classifier(shape, 9, "classifier")
        assert model.output_shape == (None, 9)
        assert sum(getattr(layer, "strides", (1, 1)) == (2, 2) for layer in model.layers) \
            == strided


def test_the_shipped_emoji_space_reads_groups_better_than_chance():
    assert features.EMOJI.weights.stat().st_size <= 1_000_000
    test = rundata.load("emoji", "test")
    _, probs = metrics.features_and_probs(test.images, space=features.EMOJI)
    counts = np.bincount(test.labels, minlength=9)
    hits = probs.argmax(-1) == test.labels
    balanced = np.mean([hits[test.labels == c].mean() for c in range(9) if counts[c]])
    assert balanced > 0.4  # chance: 1/9; class weights keep it from saying People & Body


def test_spaces_trained_here_start_from_he_weights_that_see_faint_shapes():
    # A shape on a background shaded between two colours, as on a user's photos: from
    # Keras's default start the CNN's features hardly differ between such pictures (its
    # loss then stays at ln K), from He's they do; the shipped emoji file began from the former.
    import keras

    rng = np.random.default_rng(0)
    ramp = np.add.outer(np.linspace(0, 0.5, 32), np.linspace(0, 0.5, 32))[None, :, :, None]
    a, b = rng.uniform(0, 1, (2, 64, 1, 1, 3))
    pictures = a + (b - a) * ramp
    pictures[:, 12:20, 12:20] = rng.uniform(0, 1, (64, 1, 1, 3))

    def spread(initializer):
        model = features.make_classifier((32, 32, 3), 5, "classifier", initializer)
        inner = keras.Model(model.inputs, model.get_layer("features").output)
        return inner.predict(pictures.astype(np.float32), verbose=0).std(0).mean()

    keras.utils.set_random_seed(0)
    assert spread(features.INITIALIZER) > 10 * spread(features.SHIPPED_INITIALIZER)
    assert features.initializer_for("emoji") == features.SHIPPED_INITIALIZER
    assert features.initializer_for("emoji", 64) == features.INITIALIZER
    assert features.initializer_for("/any/folder", 32) == features.INITIALIZER
    # a cached space names its recipe, so one trained by an earlier recipe is not read
    assert features.INITIALIZER in features.cached_path({"fingerprint": "f"}).name


@pytest.fixture(scope="module")
def shapes_folder(tmp_path_factory):
    """540 small colour images in three class subfolders: squares, bars and discs."""
    root = tmp_path_factory.mktemp("shapes") / "shapes"
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:24, :24]
    for k, name in enumerate(("square", "bar", "disc")):
        (root / name).mkdir(parents=True)
        for i in range(180):
            image = np.full((24, 24, 3), 255, np.uint8)
            cy, cx, r = rng.integers(8, 16), rng.integers(8, 16), rng.integers(4, 8)
            near_x = abs(xx - cx) < r
            mask = [(abs(yy - cy) < r) & near_x, (abs(yy - cy) < 2) & near_x,
                    (yy - cy) ** 2 + (xx - cx) ** 2 < r * r][k]
            image[mask] = rng.integers(0, 200, 3)
            Image.fromarray(image).save(root / name / f"{i}.png")
    return root


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TFIMAGEGEN_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(features, "STEPS", 40)  # a scorer in seconds; benchmarks train it fully
    return tmp_path / "cache"


def test_a_folder_gets_its_own_space_once_and_an_unlabelled_one_learns_rotations(
        shapes_folder, cache, monkeypatch, tmp_path):
    lines = []
    space = features.for_source(shapes_folder, announce=lines.append)
    assert space.class_names == ("bar", "disc", "square") and space.labelled
    assert len(lines) == 1 and "training a feature space" in lines[0]
    assert space.weights.is_file() and str(cache) in str(space.weights)

    def no_training(*args, **kwargs):
        raise AssertionError("trained again")

    with monkeypatch.context() as patch:
        patch.setattr(features, "train_space", no_training)
        assert features.for_source(shapes_folder) == space  # cached by the data's fingerprint

    flat = tmp_path / "flat"
    flat.mkdir()
    for path in sorted((shapes_folder / "disc").glob("*.png"))[:150]:
        (flat / path.name).write_bytes(path.read_bytes())
    rotations = features.for_source(flat)
    assert not rotations.labelled and rotations.class_names == features.ROTATIONS
    real = rundata.load(flat, "test")
    scores = metrics.evaluate(real.images, real.images, space=rotations,
                              training=rundata.load(flat, "train").images, floors=True)
    assert "class_score" not in scores and scores["fd"] == pytest.approx(0, abs=1e-6)


def test_evaluate_scores_any_data_against_its_own_splits_with_floors(shapes_folder, cache):
    test = rundata.load(shapes_folder, "test")
    train = rundata.load(shapes_folder, "train")
    space = features.for_source(shapes_folder)
    scores = metrics.evaluate(train.images, test.images, space=space, training=train.images,
                              floors=True)
    assert scores["n"] == len(test.images) >= 100  # the smaller set decides N
    assert scores["copies"] == 1  # the training images themselves
    assert 0 < scores["fd_floor"] and 0 < scores["swd_floor"]
    calibrated = metrics.copy_distance_for(test.images, train.images)
    assert scores["copy_distance"] == calibrated
    nearest = metrics.nearest_training(test.images, train.images)[1]
    assert np.mean(nearest <= calibrated) <= 0.02  # new real images are rarely "copies"
    with pytest.raises(ValueError, match="needs reference= .* and training="):
        metrics.evaluate(test.images, space=space)


def test_cli_evaluate_takes_a_source_names_its_space_and_counts(tmp_path, capsys):
    test = data.load_source("emoji", "test")
    np.savez(tmp_path / "samples.npz", images=test.images, labels=test.labels,
             class_names=np.array(test.class_names))
    assert main(["evaluate", str(tmp_path / "samples.npz"), "--data", "emoji"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1
    result = json.loads(out[0])
    assert result["feature_space"] == "emoji" and result["n"] == len(test.images)
    assert result["fd"] == pytest.approx(0, abs=1e-3) and result["swd"] == 0
    assert result["fd_floor"] > 0 and result["swd_floor"] > 0
    assert {"kid", "class_score", "precision", "recall", "copies", "label_accuracy",
            "copy_distance"} <= set(result)


@pytest.mark.parametrize("setup, args, message", [
    ("other names", ["--data", "emoji"], "class_names (0, 1, 2...) are not those of the data"),
    ("colour", [], "need --data SOURCE"),
    ("colour", ["--data", "x.npz"], "an .npz file has no test split"),
    ("colour", ["--image-size", "32"], "--image-size needs --data"),
    ("few", ["--data", "emoji"], "at least 100 images on each side"),
    ("colour", ["--data", "emoji", "--image-size", "30"], "--image-size must be a side"),
])
def test_cli_evaluate_refusals_are_one_line(tmp_path, capsys, setup, args, message):
    path = tmp_path / "s.npz"
    if setup == "other names":
        np.savez(path, images=np.zeros((200, 32, 32, 3), np.uint8), labels=np.zeros(200, int),
                 class_names=np.array(list("0123456789")))
    else:
        np.savez(path, images=np.zeros((50 if setup == "few" else 200, 32, 32, 3), np.uint8))
    assert main(["evaluate", str(path), *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err


def test_train_classifier_fills_the_cache_and_never_the_shipped_weights(shapes_folder, cache,
                                                                       capsys):
    shipped = features.EMOJI.weights.read_bytes()
    assert main(["train-classifier", "--data", str(shapes_folder), "--steps", "5"]) == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert line.startswith("test accuracy") and str(cache) in line
    space = features.for_source(shapes_folder)  # what evaluate now reads
    assert str(space.weights) in line
    assert features.EMOJI.weights.read_bytes() == shipped
    assert main(["train-classifier", "--data", "emoji", "--epochs", "3"]) == 2
    assert "--epochs applies to mnist" in capsys.readouterr().err


def test_synthetic_accuracy_tests_on_the_runs_own_data(shapes_folder, cache, tmp_path):
    out = tmp_path / "gan"
    assert main(["train", "gan", "--data", str(shapes_folder), "--out", str(out), "--quick",
                 "--epochs", "1"]) == 0
    result = apply.synthetic_accuracy(out, per_class=20, steps=30)
    assert set(result) == {"real", "synthetic", "real_plus_synthetic", "per_class"}
    assert result["real"] > 50  # three shapes, chance is 33 %: tested on the folder's test split
    fake = apply.generate_for_labels(out, np.array([0, 1, 2]))
    assert fake.shape == (3, 32, 32, 3)
