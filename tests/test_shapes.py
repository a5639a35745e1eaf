"""Every model family takes its image shape and classes from the data ("Any picture, any size")."""

import json

import keras
import numpy as np
import pytest
from PIL import Image

from tfimagegen import diffusion, gan, runs, vae, vaeruns
from tfimagegen.__main__ import main


@pytest.mark.parametrize("shape", [(16, 16, 3), (28, 28, 1), (32, 32, 3), (64, 64, 1)])
def test_every_builder_takes_the_data_shape(shape):
    x = np.zeros((2, *shape), np.float32)
    labels = np.array([0, 4])
    generator = gan.make_generator(num_classes=5, image_shape=shape)
    assert generator([np.zeros((2, 64), np.float32), labels]).shape == (2, *shape)
    assert gan.make_discriminator(num_classes=5, image_shape=shape)([x, labels]).shape == (2, 1)
    assert vae.make_decoder(8, image_shape=shape)(np.zeros((2, 8))).shape == (2, *shape)
    assert vae.make_encoder(8, image_shape=shape)(x)[0].shape == (2, 8)
    t = np.full(2, 0.5, np.float32)
    assert diffusion.make_unet(5, 8, image_shape=shape)([x, t, labels]).shape == (2, *shape)
    for f in (4, 8):
        if shape[0] % f:
            continue
        mean = np.asarray(vae.make_spatial_encoder(shape, 3, f)(x)[0])
        assert mean.shape == (2, shape[0] // f, shape[1] // f, 3)
        assert vae.make_spatial_decoder(shape, 3, f)(mean).shape == (2, *shape)
        velocity = diffusion.make_latent_unet(mean.shape[1:], 5, 16)([mean, t, labels])
        assert velocity.shape == mean.shape  # odd code sides (28 px at f = 4: 7) included


def test_gaussian_likelihood_is_the_dequantised_bound_in_nats():
    x = np.random.default_rng(0).uniform(size=(3, 4, 4, 3)).astype(np.float32)
    logits = np.random.default_rng(1).normal(size=x.shape).astype(np.float32)
    log_scale = np.log(np.array([0.1, 0.2, 0.05], np.float32))
    mean, std = 1 / (1 + np.exp(-logits)), np.exp(log_scale)
    by_hand = (0.5 * ((x - mean) / std) ** 2 + np.log(std) + 0.5 * np.log(2 * np.pi)
               + np.log(256)).reshape(3, -1).sum(1)
    np.testing.assert_allclose(vae.gaussian_nll(x, logits, log_scale), by_hand, rtol=1e-5)
    assert vae.bits_per_dim(-np.log(256) * 48, (4, 4, 3)) == pytest.approx(8.0)
    mean_map, log_var = np.ones((2, 2, 2, 3), np.float32), np.zeros((2, 2, 2, 3), np.float32)
    np.testing.assert_allclose(vae.kl_divergence(mean_map, log_var), [6.0, 6.0])  # 12 values


def test_fake_labels_follow_imbalanced_classes_and_never_a_missing_one():
    model = gan.build_gan(gan.Recipe(num_classes=3), seed=0, image_shape=(16, 16, 3))
    model.follow_label_frequencies(np.array([0] * 90 + [2] * 10))
    drawn = np.bincount(np.asarray(model._random_labels(4000)), minlength=3)
    assert drawn[1] == 0 and 0.85 < drawn[0] / 4000 < 0.95
    balanced = gan.build_gan(gan.Recipe(num_classes=3), seed=0, image_shape=(16, 16, 3))
    balanced.follow_label_frequencies(np.array([0, 1, 2] * 30))
    assert balanced._label_logits is None  # balanced data: uniform, as the digit lessons had


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """Two small image folders: colour with three class subfolders, and grey without."""
    root = tmp_path_factory.mktemp("folders")
    rng = np.random.default_rng(0)
    for k, colour in enumerate([(200, 30, 30), (30, 200, 30), (30, 30, 200)]):
        (root / "classes" / f"c{k}").mkdir(parents=True)
        for i in range(12):
            image = np.full((40, 48, 3), colour, np.uint8)
            image[rng.integers(0, 30):, rng.integers(0, 30):] = 255
            Image.fromarray(image).save(root / "classes" / f"c{k}" / f"{i}.png")
    (root / "grey").mkdir()
    for i in range(20):
        Image.fromarray(rng.integers(0, 255, (30, 30), dtype=np.uint8)).save(
            root / "grey" / f"{i}.png")
    return root


def _run(out):
    return json.loads((out / "run.json").read_text())


def test_gan_on_a_colour_folder_at_64_px_samples_and_resumes_by_its_record(folders, tmp_path):
    out = tmp_path / "gan"
    assert main(["train", "gan", "--data", str(folders / "classes"), "--image-size", "64",
                 "--quick", "--epochs", "1", "--out", str(out)]) == 0
    dataset = _run(out)["dataset"]
    assert dataset["shape"] == [64, 64, 3] and dataset["class_names"] == ["c0", "c1", "c2"]
    assert dataset["source"] == str(folders / "classes")  # absolute
    assert main(["sample", str(out), "--num", "6", "--class", "c2", "--out",
                 str(tmp_path / "s.npz")]) == 0
    with np.load(tmp_path / "s.npz") as s:
        assert s["images"].shape == (6, 64, 64, 3) and set(s["labels"]) == {2}
        assert list(s["class_names"]) == ["c0", "c1", "c2"]
    np.savez(tmp_path / "ask.npz", labels=np.array([1, 0, 1, 1]), class_names=["c0", "c1", "c2"])
    assert main(["sample", str(out), "--num", "3", "--labels-from", str(tmp_path / "ask.npz"),
                 "--out", str(tmp_path / "t.npz")]) == 0
    assert list(np.load(tmp_path / "t.npz")["labels"]) == [1, 0, 1]
    assert main(["train", "gan", "--data", str(folders / "classes"), "--image-size", "64",
                 "--quick", "--epochs", "2", "--out", str(out)]) == 0  # resumed
    assert len(json.loads((out / "history.json").read_text())["epochs"]) == 2


def test_vae_and_latent_flow_on_emoji_keep_their_shape_likelihood_and_statistics(tmp_path):
    vae_run, flow_run = tmp_path / "vae", tmp_path / "flow"
    assert main(["train", "vae", "--data", "emoji", "--quick", "--out", str(vae_run)]) == 0
    recipe = _run(vae_run)["recipe"]
    assert (recipe["likelihood"], recipe["downsample"], recipe["shift"]) == ("gaussian", 4, 0)
    model, _ = runs.load_run_model(vae_run)
    assert model.noise_shape == (8, 8, 4)
    result = vaeruns.likelihood(vae_run)  # the emoji test split, read from the run
    assert result["bits_per_dim"] == pytest.approx(-result["elbo"] / (32 * 32 * 3 * np.log(2)))
    assert main(["train", "diffusion", "--latent", str(vae_run), "--data", "emoji", "--quick",
                 "--epochs", "1", "--out", str(flow_run)]) == 0
    stats = json.loads((flow_run / "latent.json").read_text())
    assert len(stats["latent_mean"]) == 4  # one per channel of the 8x8x4 code
    assert main(["train", "diffusion", "--latent", str(vae_run), "--data", "emoji", "--quick",
                 "--epochs", "2", "--out", str(flow_run)]) == 0
    flow, _ = runs.load_run_model(flow_run)
    assert flow.latent_mean == pytest.approx(stats["latent_mean"])
    sharpened = zip(flow.decoder.get_weights(), model.decoder.get_weights(), strict=True)
    assert not all(np.array_equal(a, b) for a, b in sharpened)  # back from backup/ on resume
    images, labels = runs.sample_with_labels(flow_run, 9, label=8)
    assert images.shape == (9, 32, 32, 3) and set(labels) == {8}


def test_grey_folder_without_classes_trains_unconditional_models(folders, tmp_path):
    assert main(["train", "diffusion", "--data", str(folders / "grey"), "--image-size", "28",
                 "--unconditional", "--quick", "--epochs", "1", "--out",
                 str(tmp_path / "flow")]) == 0
    assert runs.sample(tmp_path / "flow", 4).shape == (4, 28, 28, 1)
    assert main(["train", "vae", "--data", str(folders / "grey"), "--image-size", "16",
                 "--latent-dim", "4", "--quick", "--epochs", "1", "--out",
                 str(tmp_path / "vae")]) == 0
    recipe = _run(tmp_path / "vae")["recipe"]
    assert (recipe["likelihood"], recipe["downsample"]) == ("gaussian", 0)  # flat, asked for
    assert runs.sample(tmp_path / "vae", 3).shape == (3, 16, 16, 1)


def test_cifar10_trains_through_its_keras_loader(monkeypatch, tmp_path):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 255, (1200, 32, 32, 3), dtype=np.uint8)  # 100 per class to validate
    y = (np.arange(1200) % 10).reshape(-1, 1)  # as keras gives them: (N, 1)
    monkeypatch.setattr(keras.datasets.cifar10, "load_data", lambda: ((x, y), (x[:50], y[:50])))
    out = runs.train("gan", tmp_path / "gan", data="cifar10", quick=True, epochs=1, verbose=0)
    assert out.is_file() and _run(tmp_path / "gan")["dataset"]["class_names"][0] == "airplane"
    assert runs.sample(tmp_path / "gan", 2).shape == (2, 32, 32, 3)


@pytest.mark.parametrize("args, message", [
    (["train", "gan", "--data", "{classes}", "--image-size", "30"], "--image-size must be a side"),
    (["train", "gan", "--data", "{grey}"], "has no labels (a folder needs one subfolder per"),
    (["train", "vae", "--data", "{classes}", "--image-size", "28", "--downsample", "8"],
     "is not divisible by 8"),
    (["train", "vae", "--data", "{classes}", "--downsample", "4", "--latent-dim", "3"],
     "--latent-dim is the size of a flat code"),
    (["train", "gan", "--data", "{classes}", "--downsample", "4"], "is for vae runs"),
    (["train", "gan", "--data", "mnist", "--image-size", "32"], "applies to emoji and image"),
    (["train", "gan", "--data", "{classes}", "--channels", "1", "--image-size", "200"],
     "--image-size must be a side"),
])
def test_shape_refusals_are_one_line_before_anything_is_written(folders, tmp_path, capsys, args,
                                                                message):
    out = tmp_path / "run"
    argv = [a.format(classes=folders / "classes", grey=folders / "grey") for a in args]
    assert main([*argv, "--quick", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and not out.exists()


def test_resume_refuses_other_data_and_latent_runs_on_other_data(folders, tmp_path, capsys):
    out = tmp_path / "gan"
    assert main(["train", "gan", "--data", str(folders / "classes"), "--quick", "--epochs", "1",
                 "--out", str(out)]) == 0
    assert main(["train", "gan", "--data", str(folders / "classes"), "--image-size", "64",
                 "--quick", "--out", str(out)]) == 2
    assert "trained on 32x32x3 images, not 64x64x3" in capsys.readouterr().err
    assert main(["sample", str(out), "--class", "nope", "--out", str(tmp_path / "s.npz")]) == 2
    assert "'nope' is not a class" in capsys.readouterr().err
    np.savez(tmp_path / "other.npz", labels=np.array([0, 1]), class_names=["a", "b"])
    assert main(["sample", str(out), "--num", "2", "--labels-from", str(tmp_path / "other.npz"),
                 "--out", str(tmp_path / "s.npz")]) == 2
    assert "class_names are not this run's" in capsys.readouterr().err
    vae_run = tmp_path / "vae"
    assert main(["train", "vae", "--data", str(folders / "classes"), "--quick", "--epochs", "1",
                 "--out", str(vae_run)]) == 0
    assert main(["train", "diffusion", "--latent", str(vae_run), "--data", "emoji", "--quick",
                 "--out", str(tmp_path / "flow")]) == 2
    assert "was trained on" in capsys.readouterr().err and not (tmp_path / "flow").exists()
