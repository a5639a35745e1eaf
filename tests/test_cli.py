"""The command line: `python -m tfimagegen ...`, run as a user would."""

import os
import subprocess
import sys

import numpy as np
import pytest

from tfimagegen import images
from tfimagegen.__main__ import main


def run_cli(*args, cwd=None):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    return subprocess.run([sys.executable, "-m", "tfimagegen", *map(str, args)],
                          capture_output=True, text=True, env=env, cwd=cwd, timeout=600)


@pytest.fixture(scope="module")
def photo(tmp_path_factory):
    path = tmp_path_factory.mktemp("in") / "photo.png"
    images.save_image(path, images.sample_image()[:64, :64])
    return path


@pytest.mark.parametrize("kind", ["gaussian", "uniform", "salt-and-pepper", "poisson"])
def test_noise_command_writes_a_noisy_copy_and_repeats_with_seed(tmp_path, photo, kind):
    outs = []
    for name in ("a.png", "b.png"):
        args = ["noise", photo, tmp_path / name, "--kind", kind, "--amount", "0.2", "--seed", "3"]
        assert main([str(a) for a in args]) == 0
        outs.append(images.load_image(tmp_path / name))
    assert np.array_equal(outs[0], outs[1])
    assert outs[0].shape == (64, 64, 3)
    assert not np.array_equal(outs[0], images.load_image(photo))


@pytest.mark.parametrize("args, message", [
    (["noise", "{missing}", "{out}"], "no such image file"),
    (["noise", "{notimage}", "{out}"], "not an image file"),
    (["noise", "{photo}", "{out}", "--amount", "-1"], "expected a finite number >= 0"),
    (["noise", "{photo}", "{out}", "--amount", "abc"], "expected a number"),
    (["noise", "{photo}", "{out}", "--kind", "salt-and-pepper", "--amount", "2"], "[0, 1]"),
    (["noise", "{photo}", "{out}", "--kind", "uniform", "--amount", "1e39"], "at most 3.4e+38"),
    (["noise", "{photo}", "{out}", "--kind", "poisson", "--amount", "1e-30"],
     "--amount for poisson must be >= 0.0001"),
    (["noise", "{photo}", "{out}", "--seed", "-1"], "expected a seed in [0, 2**32)"),
    (["noise", "{dir}", "{out}"], "no such image file"),
    (["noise", "{photo}", "{out}", "--kind", "pink"], "invalid choice"),
    (["noise", "{photo}", "{badout}"], "image suffix"),
    (["noise", "{photo}"], "required"),
])
def test_noise_command_failures_exit_2_with_one_line_and_no_output(tmp_path, photo, args,
                                                                   message):
    notimage = tmp_path / "notimage.png"
    notimage.write_text("hello")
    paths = {"missing": tmp_path / "missing.png", "out": tmp_path / "out.png",
             "notimage": notimage, "photo": photo, "badout": tmp_path / "out.txt",
             "dir": tmp_path}
    result = run_cli(*[a.format(**paths) for a in args])
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in result.stderr
    assert not (tmp_path / "out.png").exists() and not (tmp_path / "out.txt").exists()


def test_noise_command_names_an_output_it_cannot_write(tmp_path, photo):
    (tmp_path / "taken.png").mkdir()
    result = run_cli("noise", photo, tmp_path / "taken.png")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        f"tfimagegen: error: {tmp_path / 'taken.png'}: is a folder, not a file")


def test_poisson_floor_matches_the_noise_module():
    from tfimagegen import __main__, noise

    assert __main__.POISSON_MIN_AMOUNT == pytest.approx(noise.MAX_PEAK ** -0.5)
    assert __main__.FLOAT32_MAX == noise.FLOAT32_MAX


def test_noise_command_runs_as_a_module(tmp_path, photo):
    result = run_cli("noise", photo, tmp_path / "n.png", "--seed", "1")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"wrote {tmp_path / 'n.png'}"


def test_demo_writes_the_gallery(tmp_path):
    assert main(["demo", "--out", str(tmp_path / "demo"), "--quick"]) == 0
    names = {p.name for p in (tmp_path / "demo").iterdir()}
    assert {"gaussian.png", "uniform.png", "fractal.png", "overview.png",
            "photo_gaussian_0.05.png", "photo_gaussian_0.15.png",
            "photo_gaussian_0.3.png", "gan_samples.png", "vae_samples.png",
            "vae_latent_map.png", "diffusion_samples.png", "emoji_gallery.png"} <= names
    gallery = images.load_image(tmp_path / "demo" / "emoji_gallery.png")
    assert gallery.shape == (9 * 64, 12 * 64, 3)  # a row of 12 per Unicode group, shown 2x


def test_export_data_writes_what_a_run_would_train_on(tmp_path):
    out = tmp_path / "emoji.npz"
    assert main(["export-data", "emoji", "--split", "compositions", "--image-size", "16",
                 "--out", str(out)]) == 0
    with np.load(out) as f:
        assert sorted(f.files) == ["captions", "class_names", "images", "labels"]
        assert f["images"].dtype == np.uint8 and f["images"].shape[1:] == (16, 16, 3)
        assert f["labels"].dtype == np.int32 and len(f["captions"]) == len(f["images"])
        assert all("skin tone" in c for c in f["captions"])
    digits = tmp_path / "digits.npz"
    assert main(["export-data", "mnist", "--split", "test", "--out", str(digits)]) == 0
    with np.load(digits) as f:
        assert sorted(f.files) == ["class_names", "images", "labels"]
        assert f["images"].shape == (1000, 28, 28, 1) and list(f["class_names"][:2]) == ["0", "1"]


@pytest.mark.parametrize("args, message", [
    (["emoji", "--split", "train", "--out", "{out}.png"], "--out must end in .npz"),
    (["mnist", "--split", "compositions", "--out", "{out}"], "--split for mnist must be one of"),
    (["mnist", "--split", "train", "--image-size", "32", "--out", "{out}"],
     "--image-size applies to emoji and image folders"),
    (["emoji", "--split", "train", "--image-size", "1000", "--out", "{out}"],
     "--image-size must be an int in [8, 256], got 1000"),
    (["cifar100", "--split", "train", "--out", "{out}"], "--data must be one of mnist"),
    (["emoji", "--out", "{out}"], "the following arguments are required: --split"),
])
def test_export_data_failures_exit_2_with_one_line_and_write_nothing(tmp_path, capsys, args,
                                                                      message):
    out = tmp_path / "x.npz"
    assert main(["export-data", *(a.format(out=out) for a in args)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
    assert not list(tmp_path.iterdir())
