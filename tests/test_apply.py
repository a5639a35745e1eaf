"""Generated digits put to work: classifiers trained on them, noise as augmentation."""

import json
import shutil

import keras
import numpy as np
import pytest

from tfimagegen import apply, data, runs
from tfimagegen.__main__ import main

FEW_STEPS = 30  # enough to learn something, and quick


@pytest.fixture(scope="module")
def digits():
    return data.load_mnist("train"), data.load_mnist("test")


def test_take_per_class_gives_that_many_of_each_without_repeats(digits):
    (x, y), _ = digits
    xs, ys = apply.take_per_class(x, y, 7, seed=3)
    assert xs.shape == (70, 28, 28, 1) and np.array_equal(np.bincount(ys), [7] * 10)
    assert len({image.tobytes() for image in xs}) == 70
    again, _ = apply.take_per_class(x, y, 7, seed=3)
    assert np.array_equal(xs, again)


def test_drop_class_keeps_every_other_digit(digits):
    (x, y), _ = digits
    xs, ys = apply.drop_class(x, y, digit=5, keep=20, seed=0)
    counts, before = np.bincount(ys, minlength=10), np.bincount(y, minlength=10)
    assert counts[5] == 20
    assert np.array_equal(np.delete(counts, 5), np.delete(before, 5))


@pytest.mark.parametrize("call, message", [
    (lambda x, y: apply.take_per_class(x, y, 0), "per_class must be an int >= 1, got 0"),
    (lambda x, y: apply.take_per_class(x, y, 10_000), "per_class must be at most"),
    (lambda x, y: apply.take_per_class(x.astype(np.float32), y, 5), "must be uint8"),
    (lambda x, y: apply.take_per_class(x, y[:5], 5), "labels must be"),
    (lambda x, y: apply.take_per_class(x, y + 10, 5), "labels must be classes in [0, 10)"),
    (lambda x, y: apply.drop_class(x, y, digit=10, keep=1), "digit must be a class"),
    (lambda x, y: apply.drop_class(x, y, digit=1, keep=10_000), "keep must be at most"),
    (lambda x, y: apply.train_student(x, y, steps=0), "steps must be an int >= 1"),
    (lambda x, y: apply.classification_accuracy((x, y), (x.astype(np.float32), y), (x, y)),
     "synthetic images must be uint8"),
    (lambda x, y: apply.classification_accuracy((x, y), (x, y), (x, y[:3])),
     "labels must be 3000 integers"),
])
def test_bad_arguments_are_named(digits, call, message):
    (x, y), _ = digits
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace("[", r"\[")
                       .replace(")", r"\)")):
        call(x, y)


def test_a_student_learns_and_reports_accuracy_and_recall(digits):
    (x, y), (x_test, y_test) = digits
    model = apply.train_student(x, y, seed=0, steps=FEW_STEPS)
    assert model.name == "student" and model.output_shape == (None, 10)
    score = apply.accuracy(model, x_test, y_test)
    assert 50 < score <= 100  # 30 steps of 64 digits already beat chance (10 %) by far
    recall = apply.class_recall(model, x_test, y_test)
    counts = np.bincount(y_test, minlength=10)
    assert recall.shape == (10,)
    assert np.average(recall, weights=counts) == pytest.approx(score)
    shuffled = apply.accuracy(model, x_test, np.roll(y_test, 1))
    assert shuffled < score


def test_the_same_seed_trains_the_same_student(digits):
    (x, y), (x_test, _) = digits
    a = apply.train_student(x[:500], y[:500], seed=4, steps=5)
    b = apply.train_student(x[:500], y[:500], seed=4, steps=5)
    probe = data.scale_images(x_test[:20], "unit")
    assert np.array_equal(a.predict(probe, verbose=0), b.predict(probe, verbose=0))


def test_noise_augment_acts_only_while_training():
    layer = apply.NoiseAugment(max_stddev=0.5, max_fraction=0.2, seed=0)
    x = np.full((64, 28, 28, 1), 0.5, np.float32)
    assert np.array_equal(keras.ops.convert_to_numpy(layer(x, training=False)), x)
    noisy = keras.ops.convert_to_numpy(layer(x, training=True))
    assert noisy.min() >= 0 and noisy.max() <= 1
    per_image = noisy.reshape(64, -1).std(axis=1)
    assert per_image.max() > 0.2 and per_image.min() < 0.1  # strengths differ per image
    assert np.mean(noisy == 0) > 0.005 and np.mean(noisy == 1) > 0.005  # salt and pepper
    clone = apply.NoiseAugment.from_config(layer.get_config())
    assert clone.max_stddev == 0.5 and clone.max_fraction == 0.2

@pytest.mark.parametrize("kwargs, message", [
    ({"max_stddev": -0.1}, "max_stddev must be a number in [0, inf], got -0.1"),
    ({"max_fraction": 1.5}, "max_fraction must be a number in [0, 1], got 1.5"),
    ({"salt_pepper_rate": "half"}, "salt_pepper_rate must be a number in [0, 1], got 'half'"),
])
def test_noise_augment_names_a_bad_setting(kwargs, message):
    with pytest.raises(ValueError) as error:
        apply.NoiseAugment(**kwargs)
    assert str(error.value) == message


def test_noise_robustness_is_accuracy_at_each_strength(digits):
    (x, y), (x_test, y_test) = digits
    model = apply.train_student(x, y, seed=0, steps=FEW_STEPS)
    scores = apply.noise_robustness(model, x_test, y_test, [0.0, 1.0], seed=0)
    assert scores[0] == pytest.approx(apply.accuracy(model, x_test, y_test))
    assert scores[1] < scores[0] - 20  # sigma 1 drowns a digit


def test_generate_for_labels_draws_the_classes_asked_for(quick_run, tmp_path):
    labels = np.array([3, 3, 7, 0, 9])
    digits = apply.generate_for_labels(quick_run, labels, seed=2)
    assert digits.shape == (5, 28, 28, 1) and digits.dtype == np.uint8
    assert np.array_equal(digits, apply.generate_for_labels(quick_run, labels, seed=2))
    assert not np.array_equal(digits, apply.generate_for_labels(quick_run, labels, seed=3))
    with pytest.raises(ValueError, match=r"labels must be classes in \[0, 10\), got 0 to 12"):
        apply.generate_for_labels(quick_run, [0, 12])
    with pytest.raises(ValueError, match="labels must be 1 to"):
        apply.generate_for_labels(quick_run, [])
    with pytest.raises(runs.RunError, match="take no --steps"):
        apply.generate_for_labels(quick_run, labels, steps=5)


def test_synthetic_accuracy_scores_the_runs_digits_against_real_ones(quick_run, digits):
    (x, y), test = digits
    result = apply.synthetic_accuracy(quick_run, per_class=5, seed=0, steps=FEW_STEPS)
    assert list(result) == ["real", "synthetic", "real_plus_synthetic", "per_class"]
    assert result["per_class"] == 5
    assert result["real"] > 30  # 50 real digits teach something
    # the same measurement, done by hand on the run's own digits
    fake_labels = np.random.default_rng(0).permutation(y)
    fake = apply.generate_for_labels(quick_run, fake_labels, seed=0), fake_labels
    by_hand = apply.classification_accuracy(apply.take_per_class(x, y, 5, seed=0), fake, test,
                                            seed=0, steps=FEW_STEPS)
    assert by_hand == {k: result[k] for k in ("real", "synthetic", "real_plus_synthetic")}


def test_classification_accuracy_knows_a_replay_from_noise(digits):
    """Generators whose answer is known: replayed training digits score about what the
    real digits do; random pixels with random labels score about chance (10 %)."""
    (x, y), test = digits
    order = np.random.default_rng(1).permutation(len(x))
    replay = apply.classification_accuracy((x, y), (x[order], y[order]), test, seed=0,
                                           steps=200)
    assert replay["real"] > 90
    assert abs(replay["synthetic"] - replay["real"]) < 3
    rng = np.random.default_rng(2)
    pixels = rng.integers(0, 256, x.shape, dtype=np.uint8), rng.integers(0, 10, len(x))
    noise = apply.classification_accuracy((x, y), pixels, test, seed=0, steps=200)
    assert 3 < noise["synthetic"] < 20
    assert noise["real"] == replay["real"]  # the real student does not depend on the other set


def test_corruption_accuracy_covers_seen_and_unseen_corruptions(digits):
    (x, y), (x_test, y_test) = digits
    assert sum("(unseen)" in name for name in apply.CORRUPTIONS) >= 3
    model = apply.train_student(x, y, seed=0, steps=FEW_STEPS)
    scores = apply.corruption_accuracy(model, x_test, y_test, seed=0)
    assert list(scores) == ["clean", *apply.CORRUPTIONS]
    assert scores["clean"] == pytest.approx(apply.accuracy(model, x_test, y_test))
    assert all(scores[name] < scores["clean"] for name in apply.CORRUPTIONS)
    assert scores == apply.corruption_accuracy(model, x_test, y_test, seed=0)
    unit = data.scale_images(x_test[:8], "unit").numpy()
    for name, corrupt in apply.CORRUPTIONS.items():
        out = np.asarray(corrupt(unit, 0))
        assert out.shape == unit.shape and out.min() >= 0 and out.max() <= 1, name
        assert not np.array_equal(out, unit), name


def test_synthetic_accuracy_command_prints_the_contract(quick_run, capsys):
    assert main(["synthetic-accuracy", str(quick_run), "--per-class", "10", "--seed", "1",
                 "--steps", str(FEW_STEPS)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1
    result = json.loads(lines[0])
    assert list(result) == ["real", "synthetic", "real_plus_synthetic", "per_class"]
    assert result["per_class"] == 10 and all(0 <= result[k] <= 100 for k in list(result)[:3])


@pytest.mark.parametrize("setup, args, message", [
    ("none", [], "is not a tfimagegen run folder (no run.json)"),
    ("unconditional", [], "holds an unconditional gan run; it cannot be asked for a class"),
    ("unfinished", [], "the run has not finished"),
    ("run", ["--per-class", "0"], "--per-class must be >= 1, got 0"),
    ("run", ["--per-class", "100000"], "per_class must be at most"),
    ("run", ["--steps", "0"], "--steps must be in [1, 100,000], got 0"),
    ("run", ["--seed", "-3"], "expected a seed in [0, 2**32)"),
    ("run", ["--per-class", "ten"], "invalid int value"),
])
def test_synthetic_accuracy_failures_exit_2_with_one_line(quick_run, tmp_path, capsys, setup,
                                                          args, message):
    run_dir = tmp_path / "run"
    if setup == "run":
        run_dir = quick_run
    elif setup != "none":
        shutil.copytree(quick_run, run_dir)
        record = json.loads((run_dir / "run.json").read_text())
        if setup == "unconditional":
            record["recipe"]["num_classes"] = 0
            (run_dir / "run.json").write_text(json.dumps(record))
        else:
            (run_dir / "generator.keras").unlink()
    assert main(["synthetic-accuracy", str(run_dir), *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
