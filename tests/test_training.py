"""tfimagegen.training and the train/sample CLI: run folders, resume, callbacks."""

import dataclasses
import errno
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pytest

from tfimagegen import gan, images, runs, training, vae
from tfimagegen.__main__ import main


def cli(*args):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    return subprocess.Popen([sys.executable, "-m", "tfimagegen", *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def test_stop_on_nan_stops_before_the_backup_saves_nan_weights(tmp_path):
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    good = np.ones((8, 2), np.float32)
    backup = keras.callbacks.BackupAndRestore(str(tmp_path), delete_checkpoint=False)
    model.fit(good, np.zeros(8), batch_size=2, epochs=1, verbose=0, callbacks=[backup])
    saved = [w.numpy().copy() for w in model.weights]
    bad = np.array([[np.nan, 1.0]] * 8, np.float32)
    with pytest.raises(training.NaNLossError, match="loss became .*nan.* at batch 0"):
        model.fit(bad, np.zeros(8), batch_size=2, epochs=3, verbose=0,
                  callbacks=[training.StopOnNaN(), backup])
    restored = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    restored.load_weights(tmp_path / "latest.weights.h5")
    assert all(np.array_equal(a, b.numpy()) for a, b in zip(saved, restored.weights, strict=True))


def test_history_file_drops_epochs_past_the_restored_one(tmp_path):
    path = tmp_path / "history.json"
    path.write_text(json.dumps({"epochs": [{"epoch": e, "loss": 1.0} for e in (1, 2, 3)]}))
    callback = training.HistoryFile(path)
    callback.set_model(keras.Sequential([keras.Input((1,))]))
    callback.model._initial_epoch = 2
    callback.on_train_begin()
    assert [e["epoch"] for e in callback.epochs] == [1, 2]


def test_write_gif_loops_and_holds_the_last_frame(tmp_path):
    frames = []
    for i in range(3):
        frames.append(images.save_image(tmp_path / f"f{i}.png", np.full((8, 8), 80 * i, np.uint8)))
    from PIL import Image

    with Image.open(training.write_gif(frames, tmp_path / "p.gif", fps=2)) as gif:
        durations = []
        for i in range(gif.n_frames):
            gif.seek(i)
            durations.append(gif.info["duration"])
        assert gif.n_frames == 3 and gif.info["loop"] == 0
    assert durations == [500, 500, 2500]


def test_write_gif_of_one_frame(tmp_path):
    """A one-epoch run (``train gan --epochs 1``) has a single frame to write."""
    frame = images.save_image(tmp_path / "f.png", np.full((8, 8), 200, np.uint8))
    from PIL import Image

    with Image.open(training.write_gif([frame], tmp_path / "p.gif", fps=2)) as gif:
        assert gif.n_frames == 1 and gif.info["duration"] == 2500


def test_train_writes_the_promised_files(quick_run):
    for name in ("generator.keras", "samples.png", "progress.gif", "history.json", "run.json"):
        assert (quick_run / name).is_file(), name
    history = training.read_history(quick_run)
    assert [e["epoch"] for e in history] == [1, 2]
    assert {"seconds", "d_loss", "g_loss"} <= set(history[0])


def test_rerunning_a_finished_run_trains_no_more(quick_run):
    before = (quick_run / "history.json").read_text()
    assert main(["train", "gan", "--out", str(quick_run), "--quick", "--seed", "1"]) == 0
    assert (quick_run / "history.json").read_text() == before
    # the run folder's record decides what is not given: a quick run, seed 1, 2 epochs
    assert main(["train", "gan", "--out", str(quick_run)]) == 0
    assert (quick_run / "history.json").read_text() == before


def test_an_epochs_seconds_include_its_sample_grid_and_setup_is_counted(tmp_path, monkeypatch):
    grid = training.SampleGrid.on_epoch_end

    def slow_grid(self, epoch, logs=None):
        time.sleep(0.5)
        grid(self, epoch, logs)

    monkeypatch.setattr(training.SampleGrid, "on_epoch_end", slow_grid)
    out = tmp_path / "gan"
    runs.train("gan", out, epochs=1, quick=True, verbose=0)
    history = training.read_history(out)
    assert history[0]["seconds"] >= 0.5
    setup = json.loads((out / "run.json").read_text())["setup_seconds"]
    assert setup > 0
    assert runs.train_seconds(out) == pytest.approx(setup + history[0]["seconds"])


def test_lessons_folder_is_one_place_whatever_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.delenv(runs.RUNS_ENV, raising=False)
    checkout = Path(runs.__file__).resolve().parent.parent
    monkeypatch.chdir(tmp_path)
    assert runs.lessons_folder() == checkout / "notebooks" / "outputs"
    monkeypatch.setenv(runs.RUNS_ENV, str(tmp_path / "mine"))
    assert runs.lessons_folder() == tmp_path / "mine"


def test_train_missing_says_what_it_trains_and_leaves_a_finished_run(quick_run, tmp_path,
                                                                     capsys):
    before = (quick_run / "history.json").read_text()
    assert runs.train_missing("gan", quick_run, quick=True) == quick_run / "generator.keras"
    assert capsys.readouterr().out == ""
    assert (quick_run / "history.json").read_text() == before
    out = tmp_path / "missing"
    assert runs.train_missing("gan", out, quick=True, epochs=1).is_file()
    printed = capsys.readouterr().out
    assert printed.startswith(f"{out} has no finished gan run: training it now (quick=True, "
                              "epochs=1)")
    assert "d_loss:" in printed.splitlines()[1]  # Keras' progress, a line per epoch


def test_an_epoch_is_the_same_number_of_steps_whatever_the_data(tmp_path, monkeypatch, online):
    """Online, MNIST has 59,000 training digits: an epoch must not grow with them."""
    seen = []

    class Stop(Exception):
        pass

    def spy(model, dataset, out, epochs, z, **kwargs):
        seen.append((int(dataset.cardinality()), kwargs["steps_per_epoch"]))
        raise Stop

    monkeypatch.setattr(training, "fit_run", spy)
    for model, recipe in (("gan", gan.Recipe()), ("vae", vae.Recipe())):
        with pytest.raises(Stop):
            runs.train(model, tmp_path / model)
        assert json.loads((tmp_path / model / "run.json").read_text())["epochs"] == recipe.epochs
    assert len(runs.load_training_data("mnist")[0]) == 59_000
    infinite = -1  # tf.data.INFINITE_CARDINALITY
    assert seen == [(infinite, gan.Recipe().steps_per_epoch),
                    (infinite, vae.Recipe().steps_per_epoch)]
    assert gan.Recipe().steps_per_epoch == 125


def test_train_takes_a_network_of_your_own_and_resumes_only_with_it(tmp_path):
    def wide_generator(recipe, seed):
        generator = gan.make_generator(recipe.latent_dim, 2 * recipe.width, recipe.kernel_size,
                                       recipe.num_classes)
        return gan.build_gan(recipe, seed, generator=generator)

    out = tmp_path / "wide"
    path = runs.train("gan", out, quick=True, epochs=1, build=wide_generator, verbose=0)
    assert json.loads((out / "run.json").read_text())["network"] == "wide_generator"
    generator = keras.saving.load_model(path, safe_mode=True)
    last_up = [la for la in generator.layers if isinstance(la, keras.layers.Conv2DTranspose)][-1]
    assert last_up.filters == gan.Recipe().width  # twice the recipe's 32 channels at 28x28
    with pytest.raises(runs.RunError, match="network 'wide_generator', not 'recipe'"):
        runs.train("gan", out, epochs=2)


def test_train_from_python_rejects_zero_epochs(tmp_path):
    with pytest.raises(runs.RunError, match="--epochs must be an int >= 1, got 0"):
        runs.train("gan", tmp_path / "run", epochs=0)
    assert not (tmp_path / "run").exists()


def test_resolve_options_takes_a_path_and_refuses_a_bad_seed(tmp_path):
    options = runs.resolve_options(tmp_path, None, gan.Recipe(), data=tmp_path / "mine.npz")
    assert options["data"] == str(tmp_path / "mine.npz")  # recorded as text in run.json
    with pytest.raises(runs.RunError, match=r"--seed must be an int in \[0, 2\*\*32\), got -1"):
        runs.resolve_options(tmp_path, None, gan.Recipe(), seed=-1)
    assert runs.resolve_options(tmp_path, {"epochs": 5}, gan.Recipe(), epochs=7)["epochs"] == 7
    with pytest.raises(runs.RunError, match="run of 5 epochs; --epochs can grow it, not shrink"):
        runs.resolve_options(tmp_path, {"epochs": 5}, gan.Recipe(), epochs=3)


def test_sample_writes_uint8_digits_and_repeats_with_seed(quick_run, tmp_path):
    assert main(["sample", str(quick_run), "--num", "5000", "--seed", "4",
                 "--out", str(tmp_path / "a.npz")]) == 0
    assert main(["sample", str(quick_run), "--num", "10", "--seed", "4",
                 "--out", str(tmp_path / "b.npz")]) == 0
    a, b = np.load(tmp_path / "a.npz")["images"], np.load(tmp_path / "b.npz")["images"]
    assert a.shape == (5000, 28, 28, 1) and a.dtype == np.uint8
    assert np.array_equal(a[:10], b)


def test_sample_from_a_conditional_run_saves_the_labels(quick_run, tmp_path):
    assert json.loads((quick_run / "run.json").read_text())["recipe"]["num_classes"] == 10
    assert main(["sample", str(quick_run), "--num", "25", "--out", str(tmp_path / "all.npz")]) == 0
    assert main(["sample", str(quick_run), "--num", "25", "--label", "3",
                 "--out", str(tmp_path / "threes.npz")]) == 0
    every, threes = np.load(tmp_path / "all.npz"), np.load(tmp_path / "threes.npz")
    assert every["labels"].tolist() == [i % 10 for i in range(25)]
    assert threes["labels"].tolist() == [3] * 25
    # same noise, same label: same image; another label: another image
    assert np.array_equal(every["images"][3], threes["images"][3])
    assert not np.array_equal(every["images"][4], threes["images"][4])


@pytest.fixture(scope="module")
def quick_unconditional_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "gan"
    assert main(["train", "gan", "--out", str(out), "--quick", "--unconditional"]) == 0
    return out


def test_an_unconditional_run_samples_without_labels(quick_unconditional_run, tmp_path,
                                                     capsys):
    run = json.loads((quick_unconditional_run / "run.json").read_text())
    assert run["recipe"]["num_classes"] == 0
    assert main(["sample", str(quick_unconditional_run), "--num", "8",
                 "--out", str(tmp_path / "s.npz")]) == 0
    with np.load(tmp_path / "s.npz") as samples:
        assert samples.files == ["images"] and samples["images"].shape == (8, 28, 28, 1)
    capsys.readouterr()
    assert main(["sample", str(quick_unconditional_run), "--label", "1",
                 "--out", str(tmp_path / "t.npz")]) == 2
    assert "this run is unconditional; it takes no label" in capsys.readouterr().err
    # resuming it without --unconditional would build other networks: refused
    assert main(["train", "gan", "--out", str(quick_unconditional_run), "--quick"]) == 2
    assert "another recipe (num_classes 0, not 10)" in capsys.readouterr().err


def test_killed_training_resumes_from_the_last_finished_epoch(tmp_path):
    out = tmp_path / "run"
    args = ["train", "gan", "--out", out, "--quick", "--epochs", "4"]
    proc = cli(*args)
    deadline = time.time() + 300
    while not training.read_history(out) and time.time() < deadline:
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    finished = training.read_history(out)
    assert finished and len(finished) < 4, "the run was not interrupted mid-way"
    resumed = cli(*args)
    _, err = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, err[-2000:]
    history = training.read_history(out)
    assert [e["epoch"] for e in history] == [1, 2, 3, 4]
    assert history[: len(finished)] == finished  # finished epochs were not redone
    assert (out / "generator.keras").is_file()


@pytest.mark.parametrize("setup, args, message", [
    ("foreign", ["train", "gan", "--out", "{dir}"], "not a tfimagegen run folder"),
    (None, ["train", "gan", "--out", "{dir}", "--epochs", "0"], "--epochs must be an int >= 1"),
    ("quick-gan-run", ["train", "gan", "--out", "{dir}", "--data", "{dir}/other.npz"],
     "made with --data mnist, not"),
    ("quick-gan-run", ["train", "gan", "--out", "{dir}", "--seed", "3"],
     "made with --seed 0, not 3; rerun with --seed 0 (or without --seed)"),
    ("full-gan-run", ["train", "gan", "--out", "{dir}", "--quick"],
     "holds a full run; rerun without --quick to resume it"),
    ("quick-gan-run", ["train", "gan", "--out", "{dir}", "--epochs", "1"],
     "holds a run of 2 epochs; --epochs can grow it, not shrink it to 1"),
    (None, ["sample", "{dir}", "--num", "0", "--out", "{dir}/s.npz"], "--num must be in [1, "),
    ("finished", ["sample", "{dir}", "--num", "1000000000", "--out", "{dir}/s.npz"],
     "--num must be in [1, 100,000], got 1,000,000,000"),
    ("digits", ["elbo", "{dir}", "--data", "{data}", "--k", "1000000"],
     "--k must be in [1, 100,000], got 1,000,000"),
    (None, ["train", "gan", "--out", "{dir}", "--seed", "-1"], "expected a seed in [0, 2**32)"),
    (None, ["sample", "{dir}", "--seed", "99999999999", "--out", "{dir}/s.npz"],
     "expected a seed in [0, 2**32)"),
    ("list-run", ["train", "gan", "--out", "{dir}"], "run.json is damaged (a JSON list"),
    ("empty-digits", ["train", "gan", "--out", "{dir}", "--data", "{data}"], "holds no images"),
    ("truncated-digits", ["train", "gan", "--out", "{dir}", "--data", "{data}"],
     "is not a .npz file numpy can read"),
    ("corrupt-model", ["sample", "{dir}", "--out", "{dir}/s.npz"], "cannot be loaded"),
    ("lambda-model", ["sample", "{dir}", "--out", "{dir}/s.npz"], "cannot be loaded"),
    (None, ["train", "gan", "--out", "{dir}", "--data", "digits.csv"], "--data must be"),
    (None, ["train", "gan", "--out", "{dir}", "--data", "{dir}/missing.npz"], "no such file"),
    (None, ["train", "flow", "--out", "{dir}"], "invalid choice"),
    (None, ["train", "vae", "--out", "{dir}", "--latent-dim", "0"],
     "--latent-dim must be an int >= 1"),
    ("gan-run", ["train", "vae", "--out", "{dir}"], "holds a gan run, not a vae run"),
    ("vae-run", ["train", "vae", "--out", "{dir}", "--latent-dim", "2"], "latent_dim 16, not 2"),
    ("old-gan-run", ["train", "gan", "--out", "{dir}"],
     f"another recipe (width 16, not {gan.Recipe().width})"),
    ("pre-label-gan-run", ["train", "gan", "--out", "{dir}"],
     "another recipe (num_classes 0, not 10)"),
    ("digits", ["train", "gan", "--out", "{dir}", "--data", "{data}"],
     "has no labels (an npz file needs the key 'y' or 'labels')"),
    (None, ["train", "vae", "--out", "{dir}", "--unconditional"], "--unconditional is for gan"),
    (None, ["elbo", "{dir}", "--data", "{dir}/missing.npz"], "no such file"),
    ("digits", ["elbo", "{dir}", "--data", "{data}"], "not a tfimagegen run folder"),
    ("digits", ["elbo", "{dir}", "--data", "{data}", "--k", "0"], "--k must be >= 1"),
    ("floats", ["elbo", "{dir}", "--data", "{data}"], "must be uint8"),
    (None, ["sample", "{dir}", "--out", "{dir}/s.npz"], "not a tfimagegen run folder"),
    ("unfinished", ["sample", "{dir}", "--out", "{dir}/s.npz"], "has not finished"),
    ("unfinished", ["sample", "{dir}", "--out", "{dir}/s.png"], "must end in .npz"),
    ("finished", ["sample", "{dir}", "--label", "10", "--out", "{dir}/s.npz"],
     "this run draws classes 0 to 9"),
])
def test_train_and_sample_failures_exit_2_with_one_line(tmp_path, capsys, setup, args,
                                                        message):
    run_dir = tmp_path / "dir"
    run_dir.mkdir()
    if setup == "foreign":
        (run_dir / "thesis.tex").write_text("precious")
    elif setup == "unfinished":
        (run_dir / "run.json").write_text(json.dumps({"model": "gan"}))
    elif setup in ("gan-run", "vae-run"):
        model = setup.split("-")[0]
        recipe = runs._settings(gan.Recipe() if model == "gan" else vae.Recipe())
        (run_dir / "run.json").write_text(json.dumps({"model": model, "recipe": recipe}))
    elif setup == "old-gan-run":
        recipe = {**dataclasses.asdict(gan.Recipe()), "width": 16}
        (run_dir / "run.json").write_text(json.dumps({"model": "gan", "recipe": recipe}))
    elif setup == "pre-label-gan-run":  # written before the recipe had num_classes
        recipe = dataclasses.asdict(gan.Recipe())
        del recipe["num_classes"]
        (run_dir / "run.json").write_text(json.dumps({"model": "gan", "recipe": recipe}))
    elif setup in ("quick-gan-run", "full-gan-run"):
        (run_dir / "run.json").write_text(json.dumps({
            "model": "gan", "seed": 0, "data": "mnist", "quick": setup == "quick-gan-run",
            "epochs": 2, "recipe": runs._settings(gan.Recipe())}))
    elif setup == "list-run":
        (run_dir / "run.json").write_text("[1, 2]")
    elif setup == "empty-digits":
        np.savez(tmp_path / "digits.npz", x=np.zeros((0, 28, 28), np.uint8), y=np.zeros(0, int))
    elif setup == "truncated-digits":
        np.savez(tmp_path / "digits.npz", x=np.zeros((40, 28, 28), np.uint8), y=np.zeros(40, int))
        (tmp_path / "digits.npz").write_bytes((tmp_path / "digits.npz").read_bytes()[:300])
    elif setup in ("corrupt-model", "lambda-model"):
        (run_dir / "run.json").write_text(json.dumps({"model": "gan", "recipe": {}}))
        if setup == "corrupt-model":
            (run_dir / "generator.keras").write_bytes(b"PK\x03\x04 not a model")
        else:  # safe_mode refuses to deserialise a Lambda: it would run arbitrary code
            keras.Sequential([keras.Input((2,)), keras.layers.Lambda(lambda t: 2 * t)]).save(
                run_dir / "generator.keras")
    elif setup in ("digits", "floats"):
        x = np.zeros((4, 28, 28), np.uint8 if setup == "digits" else np.float32)
        np.savez(tmp_path / "digits.npz", x=x)
    elif setup == "finished":
        model = gan.build_gan(gan.Recipe(width=16, latent_dim=8), seed=0)
        model.ema_generator.save(run_dir / "generator.keras")
        recipe = dataclasses.asdict(gan.Recipe(width=16, latent_dim=8))
        (run_dir / "run.json").write_text(json.dumps({"model": "gan", "latent_dim": 8,
                                                      "recipe": recipe}))
    assert main([a.format(dir=run_dir, data=tmp_path / "digits.npz") for a in args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
    if setup == "foreign":
        assert sorted(p.name for p in run_dir.iterdir()) == ["thesis.tex"]


def test_a_failed_checkpoint_write_keeps_the_last_good_one(tmp_path, monkeypatch, capsys):
    """A full disk while the backup is written: the previous epoch's stays, and resumes."""
    out = tmp_path / "run"
    runs.train("gan", out, quick=True, epochs=1, verbose=0)
    weights = out / "backup" / "latest.weights.h5"
    good = weights.read_bytes()

    def full_disk(self, filepath, overwrite=True, **kwargs):
        Path(filepath).write_bytes(b"the first half of a checkpoint")
        raise OSError(errno.ENOSPC, "No space left on device", str(filepath))

    monkeypatch.setattr(keras.Model, "save_weights", full_disk)
    assert main(["train", "gan", "--out", str(out), "--epochs", "2"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[-1].startswith("tfimagegen: error: ") and "No space left on device" in lines[-1]
    assert weights.read_bytes() == good
    assert json.loads((out / "backup" / "training_metadata.json").read_text())["epoch"] == 1
    assert not (out / "backup" / "partial.weights.h5").exists()
    monkeypatch.undo()
    runs.train("gan", out, epochs=2, verbose=0)
    assert [e["epoch"] for e in training.read_history(out)] == [1, 2]


def test_a_damaged_backup_is_named_with_what_to_do(tmp_path, capsys):
    """A checkpoint cut short (a crash mid-write by another tool): one line, no crash loop."""
    out = tmp_path / "run"
    runs.train("gan", out, quick=True, epochs=1, verbose=0)
    weights = out / "backup" / "latest.weights.h5"
    weights.write_bytes(weights.read_bytes()[:2000])
    for _ in range(2):  # the same answer every time, until the folder is dealt with
        assert main(["train", "gan", "--out", str(out), "--epochs", "2"]) == 2
        lines = capsys.readouterr().err.strip().splitlines()
        assert len(lines) == 1 and "backup cannot be restored" in lines[0]
        assert "delete that folder to train this run again from epoch 0" in lines[0]


HOLD_THE_LOCK = """
import time
from pathlib import Path
from tfimagegen import runs
with runs.run_lock(Path({out!r})):
    print("held", flush=True)
    time.sleep(120)
"""


def test_a_second_writer_is_refused_and_a_killed_one_blocks_nothing(tmp_path, capsys):
    out = tmp_path / "run"
    holder = subprocess.Popen([sys.executable, "-c", HOLD_THE_LOCK.format(out=str(out))],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        assert main(["train", "gan", "--out", str(out), "--quick"]) == 2
        lines = capsys.readouterr().err.strip().splitlines()
        assert lines == [f"tfimagegen: error: {out} is being trained by process {holder.pid}; "
                         "wait for it to finish, or choose another --out"]
        with pytest.raises(runs.RunError, match="is being trained"):
            runs.train("vae", out, quick=True)
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    runs.check_unlocked(out)  # the kernel released the killed process's lock
    assert runs.read_run(out) is None  # a folder holding only the lock file is an empty one


def test_an_error_after_tensorflow_loads_is_the_last_line(quick_run, tmp_path):
    run_dir = tmp_path / "broken"
    shutil.copytree(quick_run, run_dir)
    (run_dir / "generator.keras").write_bytes(b"PK\x03\x04 damaged")
    proc = cli("sample", run_dir, "--out", tmp_path / "s.npz")
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 2
    last = err.strip().splitlines()[-1]
    assert last.startswith(f"tfimagegen: error: {run_dir / 'generator.keras'} cannot be loaded")
    assert "Traceback" not in err and not (tmp_path / "s.npz").exists()


def test_train_failure_in_a_real_shell_prints_exactly_one_line(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    proc = cli("train", "gan", "--out", tmp_path)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 2
    assert err.strip().splitlines() == [
        f"tfimagegen: error: {tmp_path} is not empty and holds no run.json: not a tfimagegen "
        "run folder; choose another --out"]


@pytest.mark.parametrize("args, message", [
    (["train", "gan", "--out", "{dir}/run", "--data", "{dir}/plain.npz"], "has no labels"),
    (["sample", "{run}", "--label", "10", "--out", "{dir}/s.npz"], "draws classes 0 to 9"),
    (["train", "gan", "--out", "{dir}/old"], "another recipe (num_classes 0, not 10)"),
])
def test_run_and_label_errors_in_a_real_shell_print_one_line(quick_run, tmp_path, args,
                                                           message):
    """Checked before TensorFlow loads, so none of its start-up messages show."""
    np.savez(tmp_path / "plain.npz", x=np.zeros((4, 28, 28), np.uint8))
    recipe = dataclasses.asdict(gan.Recipe())
    del recipe["num_classes"]  # a GAN run made before the recipe had labels
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "run.json").write_text(json.dumps({"model": "gan", "recipe": recipe}))
    proc = cli(*[a.format(dir=tmp_path, run=quick_run) for a in args])
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], lines
    assert not (tmp_path / "run").exists() and not (tmp_path / "s.npz").exists()


def test_elbo_refuses_a_gan_run(quick_run, tmp_path, capsys):
    np.savez(tmp_path / "digits.npz", x=np.zeros((4, 28, 28), np.uint8))
    assert main(["elbo", str(quick_run), "--data", str(tmp_path / "digits.npz")]) == 2
    assert "a GAN has no likelihood" in capsys.readouterr().err


@pytest.fixture(scope="module")
def quick_vae_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "vae"
    assert main(["train", "vae", "--out", str(out), "--quick", "--latent-dim", "4"]) == 0
    return out


def test_train_vae_writes_the_promised_files(quick_vae_run):
    for name in ("vae.keras", "samples.png", "progress.gif", "history.json", "run.json"):
        assert (quick_vae_run / name).is_file(), name
    history = training.read_history(quick_vae_run)
    assert [e["epoch"] for e in history] == [1, 2]
    assert {"seconds", "loss", "reconstruction", "kl"} <= set(history[0])
    assert json.loads((quick_vae_run / "run.json").read_text())["recipe"]["latent_dim"] == 4


def test_train_vae_resumes_and_trains_only_the_new_epochs(quick_vae_run, tmp_path):
    out = tmp_path / "vae"
    shutil.copytree(quick_vae_run, out)
    before = training.read_history(out)
    args = ["train", "vae", "--out", str(out), "--quick", "--latent-dim", "4"]
    assert main([*args, "--epochs", "3"]) == 0
    history = training.read_history(out)
    assert [e["epoch"] for e in history] == [1, 2, 3] and history[:2] == before


def test_sample_from_a_vae_run_gives_uint8_digits(quick_vae_run, tmp_path):
    for name in ("a.npz", "b.npz"):
        assert main(["sample", str(quick_vae_run), "--num", "20", "--seed", "2",
                     "--out", str(tmp_path / name)]) == 0
    a, b = np.load(tmp_path / "a.npz")["images"], np.load(tmp_path / "b.npz")["images"]
    assert a.shape == (20, 28, 28, 1) and a.dtype == np.uint8 and np.array_equal(a, b)
    assert len(np.unique(a)) > 2  # pixel means, not binarised samples


def test_elbo_command_prints_one_json_line(quick_vae_run, tmp_path, capsys):
    from tfimagegen import data, vae

    digits = data.embedded_split("test")[0][:50, ..., 0]
    np.savez(tmp_path / "test.npz", x=digits)
    capsys.readouterr()
    assert main(["elbo", str(quick_vae_run), "--data", str(tmp_path / "test.npz")]) == 0
    single = json.loads(capsys.readouterr().out)
    assert main(["elbo", str(quick_vae_run), "--data", str(tmp_path / "test.npz"),
                 "--k", "50"]) == 0
    both = json.loads(capsys.readouterr().out)
    assert set(single) == {"elbo", "bits_per_dim"} and set(both) == {"elbo", "bits_per_dim",
                                                                     "iwae", "k"}
    assert both["k"] == 50 and single["bits_per_dim"] == round(
        -single["elbo"] / (28 * 28 * math.log(2)), 4)
    assert single["elbo"] == both["elbo"] < both["iwae"] < 0
    model = keras.saving.load_model(quick_vae_run / "vae.keras", safe_mode=True)
    assert single["elbo"] == round(vae.elbo(model, digits), 4)


def test_what_sample_writes_train_and_elbo_read(quick_run, quick_vae_run, tmp_path, capsys):
    """sample writes images/labels; train --data and elbo --data read them (or x/y)."""
    assert main(["sample", str(quick_run), "--num", "30", "--out", str(tmp_path / "g.npz")]) == 0
    images, labels = runs.load_training_data(str(tmp_path / "g.npz"))
    assert images.shape == (30, 28, 28, 1) and labels.tolist() == [i % 10 for i in range(30)]
    assert main(["sample", str(quick_vae_run), "--num", "30", "--out",
                 str(tmp_path / "v.npz")]) == 0
    capsys.readouterr()
    assert main(["elbo", str(quick_vae_run), "--data", str(tmp_path / "v.npz")]) == 0
    assert json.loads(capsys.readouterr().out)["elbo"] < 0


def test_train_from_python_rejects_an_unknown_model(tmp_path):
    with pytest.raises(runs.RunError,
                       match="model must be one of gan, vae, diffusion, clip, got 'flow'"):
        runs.train("flow", tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_load_training_data_checks_npz_shape_and_gives_labels(tmp_path):
    np.savez(tmp_path / "odd.npz", x=np.zeros((4, 30, 30, 1), np.uint8))
    with pytest.raises(runs.RunError, match="sides 16 to 128 divisible by 4.*got 30x30x1"):
        runs.load_training_data(str(tmp_path / "odd.npz"))
    np.savez(tmp_path / "colour.npz", x=np.zeros((4, 32, 32, 3), np.uint8))
    assert runs.load_training_data(str(tmp_path / "colour.npz"))[0].shape == (4, 32, 32, 3)
    np.savez(tmp_path / "mine.npz", x=np.zeros((4, 28, 28), np.uint8), y=[3, 1, 4, 1])
    images, labels = runs.load_training_data(str(tmp_path / "mine.npz"))
    assert images.shape == (4, 28, 28, 1) and labels.tolist() == [3, 1, 4, 1]
    assert runs.load_training_data("mnist", quick=True)[1].shape == (runs.QUICK_IMAGES,)


def test_time_budget_stops_after_the_first_epoch_past_it():
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    budget = training.TimeBudget(1e-9)
    history = model.fit(np.ones((8, 2)), np.zeros(8), epochs=5, verbose=0, callbacks=[budget])
    assert budget.epochs == 1 and len(history.history["loss"]) == 1
    with pytest.raises(ValueError, match="seconds must be > 0"):
        training.TimeBudget(0)
