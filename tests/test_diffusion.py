"""tfimagegen.diffusion and the diffusion family of the CLI: flow matching, samplers, runs."""

import dataclasses
import json
import shutil

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfimagegen import diffusion, families, runs, training, vae
from tfimagegen.__main__ import main

SMALL = diffusion.Recipe(width=8)


def test_the_path_runs_from_the_image_to_the_noise_at_constant_velocity():
    x = tf.random.stateless_normal((3, 28, 28, 1), seed=[0, 0])
    noise = tf.random.stateless_normal((3, 28, 28, 1), seed=[0, 1])
    zeros, ones = tf.zeros(3), tf.ones(3)
    np.testing.assert_allclose(diffusion.interpolate(x, noise, zeros), x)
    np.testing.assert_allclose(diffusion.interpolate(x, noise, ones), noise)
    t, dt = tf.constant([0.2, 0.5, 0.9]), 1e-2
    slope = (diffusion.interpolate(x, noise, t + dt) - diffusion.interpolate(x, noise, t)) / dt
    np.testing.assert_allclose(slope, diffusion.velocity_target(x, noise), atol=1e-3)


def test_heun_is_exact_where_euler_is_not():
    """For dx/dt = t (a velocity linear in t) Heun's trapezoid is exact, Euler is not."""
    def velocity(x, t):
        return tf.fill(tf.shape(x), t)

    x = tf.zeros((1, 2))
    exact = (0.5**2 - 1.0**2) / 2  # x(0.5) - x(1) = ∫_1^0.5 t dt
    heun = diffusion.heun_step(velocity, x, 1.0, 0.5)
    euler = diffusion.euler_step(velocity, x, 1.0, 0.5)
    np.testing.assert_allclose(heun, exact + np.zeros((1, 2)), rtol=1e-6)
    assert not np.allclose(euler, exact)
    # a step that ends at t = 0 stays an Euler step: the velocity there is not learned
    np.testing.assert_array_equal(diffusion.heun_step(velocity, x, 0.5, 0.0),
                                  diffusion.euler_step(velocity, x, 0.5, 0.0))


def test_the_ddim_step_on_the_straight_schedule_is_the_euler_step():
    x_t = tf.random.stateless_normal((4, 5), seed=[1, 0])
    v = tf.random.stateless_normal((4, 5), seed=[1, 1])
    t, s = 0.7, 0.4
    noise = x_t + (1 - t) * v  # what a noise-predicting network says on this schedule
    ddim = diffusion.ddim_step(x_t, noise, 1 - t, t, 1 - s, s)
    euler = diffusion.euler_step(lambda x, time: v, x_t, t, s)
    np.testing.assert_allclose(ddim, euler, atol=1e-5)


def test_the_networks_take_time_and_label_and_give_a_velocity_of_the_input_shape():
    unet = diffusion.make_unet(num_classes=10, width=8)
    x, t = tf.zeros((2, 28, 28, 1)), tf.constant([0.1, 0.9])
    assert unet([x, t, tf.constant([3, 10])]).shape == (2, 28, 28, 1)  # 10: the null label
    assert len(diffusion.make_unet(num_classes=0, width=8).inputs) == 2
    mlp = diffusion.make_latent_mlp(latent_dim=6, num_classes=10, width=16)
    assert mlp([tf.zeros((2, 6)), t, tf.constant([0, 10])]).shape == (2, 6)
    # the recipe's U-Net: about 50 MFLOP per image, counted on the graph
    assert 20e6 < diffusion.count_flops(diffusion.make_unet()) < 100e6
    with pytest.raises(ValueError, match="dim must be an even int >= 2"):
        diffusion.TimeEmbedding(3)


def test_guidance_mixes_the_conditional_and_unconditional_velocities():
    model = diffusion.build_flow(SMALL, seed=0)
    x = tf.random.stateless_normal((3, 28, 28, 1), seed=[2, 0])
    labels = tf.constant([1, 2, 3])
    t = tf.fill([3], 0.5)
    cond = model.ema_velocity([x, t, labels])
    uncond = model.ema_velocity([x, t, tf.fill([3], 10)])
    np.testing.assert_allclose(model.guided_velocity(x, 0.5, labels, 1.0), cond, atol=1e-5)
    np.testing.assert_allclose(model.guided_velocity(x, 0.5, labels, 0.0), uncond, atol=1e-5)
    np.testing.assert_allclose(model.guided_velocity(x, 0.5, labels, 3.0),
                               uncond + 3.0 * (cond - uncond), atol=1e-4)


def test_training_lowers_the_loss_and_moves_the_ema_copy():
    keras.utils.set_random_seed(0)
    model = diffusion.build_flow(SMALL, seed=0)
    x = np.random.default_rng(0).integers(0, 256, (64, 28, 28, 1)).astype(np.uint8)
    x[:, 8:20, 8:20] = 255
    from tfimagegen import data

    ds = data.as_dataset(x, 32, seed=0, labels=np.arange(64) % 10, repeat=True)
    before = [w.numpy() for w in model.ema_velocity.weights]
    logs = model.fit(ds, epochs=3, steps_per_epoch=10, verbose=0).history["loss"]
    assert logs[-1] < logs[0] and all(np.isfinite(logs))
    after = [w.numpy() for w in model.ema_velocity.weights]
    assert any(not np.array_equal(a, b) for a, b in zip(before, after, strict=True))
    with pytest.raises(ValueError, match="trains on \\(data, labels\\) batches"):
        model.train_step(tf.zeros((2, 28, 28, 1)))


def test_sampling_is_seeded_bitwise_and_checks_its_arguments():
    model = diffusion.build_flow(SMALL, seed=0)
    noise = tf.random.stateless_normal((12, 28, 28, 1), seed=[3, 0])
    a = model.generate(noise, steps=3, guidance=2.0)
    b = model.generate(noise, steps=3, guidance=2.0)
    assert a.shape == (12, 28, 28, 1) and a.dtype == np.float32 and np.array_equal(a, b)
    assert -1.0 <= a.min() and a.max() <= 1.0
    assert not np.array_equal(a, model.generate(noise, steps=3, sampler="heun", guidance=2.0))
    # batches change the draws by float rounding only, each image keeping its own label
    np.testing.assert_allclose(model.generate(noise, steps=3, guidance=2.0, batch_size=5), a,
                               atol=1e-5)
    for kwargs, message in [({"steps": 0}, "steps must be an int >= 1"),
                            ({"batch_size": 0}, "batch_size must be an int >= 1, got 0"),
                            ({"guidance": -1.0}, "guidance must be a finite number >= 0"),
                            ({"sampler": "rk4"}, "sampler must be one of euler, heun"),
                            ({"labels": np.full(12, 10)}, "labels must be in \\[0, 10\\)")]:
        with pytest.raises(ValueError, match=message):
            model.generate(noise, **kwargs)
    with pytest.raises(ValueError, match="noise must be \\(n, 28, 28, 1\\).*got \\(12, 16\\)"):
        model.generate(tf.zeros((12, 16)))
    with pytest.raises(ValueError, match="sampler must be one of euler, heun, got 'rk4'"):
        diffusion.build_flow(dataclasses.replace(SMALL, sampler="rk4"), seed=0)
    unconditional = diffusion.build_flow(dataclasses.replace(SMALL, num_classes=0), seed=0)
    with pytest.raises(ValueError, match="unconditional \\(num_classes=0\\); it takes no labels"):
        unconditional.generate(noise, np.zeros(12, int))


def test_a_latent_model_round_trips_with_its_decoder_in_safe_mode(tmp_path):
    v = vae.build_vae(vae.Recipe(latent_dim=4, width=8), seed=0)
    latents = np.random.default_rng(0).normal(2.0, 3.0, (50, 4)).astype(np.float32)
    model = diffusion.build_flow(SMALL.for_latents("unused"), seed=0, decoder=v.decoder,
                                 latents=latents)
    assert model.noise_shape == (4,) and model.output_range == (0.0, 1.0)
    np.testing.assert_allclose(diffusion.standardize(model, latents).std(0), 1.0, rtol=1e-3)
    noise = tf.random.stateless_normal((10, 4), seed=[4, 0])
    before = model.generate(noise, steps=4)
    assert 0.0 <= before.min() and before.max() <= 1.0
    model.save(tmp_path / "flow.keras")
    loaded = keras.saving.load_model(tmp_path / "flow.keras", safe_mode=True)
    assert np.array_equal(before, loaded.generate(noise, steps=4))


def test_two_replicas_train_one_flow_model(two_replica_training):
    report = two_replica_training(
        "from tfimagegen import diffusion\n"
        "with strategy.scope():\n"
        "    model = diffusion.build_flow(diffusion.Recipe(width=8), seed=0, "
        "strategy=strategy)\n"
        "dataset = data.as_dataset(x[:128], 32, seed=0, labels=y[:128])")
    assert report == {"replicas": 2, "mirrored": report["mirrored"], "agree": True,
                      "finite": True} and report["mirrored"] > 0


def test_a_family_is_one_line_of_the_table(tmp_path, monkeypatch):
    """A new name for the VAE's module trains, resumes and samples through runs untouched."""
    monkeypatch.setitem(families.FAMILIES, "vae_again",
                        families.Family("tfimagegen.vae", vae.Recipe, "again.keras"))
    path = runs.train("vae_again", tmp_path / "run", quick=True, epochs=1, latent_dim=2,
                      verbose=0)
    assert path.name == "again.keras"
    assert runs.sample(tmp_path / "run", 3).shape == (3, 28, 28, 1)
    with pytest.raises(runs.RunError, match="holds a vae_again run, not a vae run"):
        runs.train("vae", tmp_path / "run", quick=True)


@pytest.fixture(scope="module")
def quick_flow_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "flow"
    assert main(["train", "diffusion", "--out", str(out), "--quick", "--seed", "1"]) == 0
    return out


def test_train_diffusion_writes_the_promised_files(quick_flow_run):
    for name in ("flow.keras", "samples.png", "progress.gif", "history.json", "run.json"):
        assert (quick_flow_run / name).is_file(), name
    assert [e["epoch"] for e in training.read_history(quick_flow_run)] == [1, 2]
    assert json.loads((quick_flow_run / "run.json").read_text())["model"] == "diffusion"


def test_train_diffusion_resumes_and_trains_only_the_new_epochs(quick_flow_run, tmp_path):
    out = tmp_path / "flow"
    shutil.copytree(quick_flow_run, out)
    before = training.read_history(out)
    assert main(["train", "diffusion", "--out", str(out), "--epochs", "3"]) == 0
    history = training.read_history(out)
    assert [e["epoch"] for e in history] == [1, 2, 3] and history[:2] == before


def test_sample_takes_steps_and_guidance_and_repeats_with_seed(quick_flow_run, tmp_path,
                                                               capsys):
    args = ["sample", str(quick_flow_run), "--num", "12", "--seed", "5", "--steps", "3"]
    for name in ("a", "b"):
        assert main([*args, "--guidance", "3", "--out", str(tmp_path / f"{name}.npz")]) == 0
    assert main([*args, "--guidance", "0", "--out", str(tmp_path / "c.npz")]) == 0
    a, b, c = (np.load(tmp_path / f"{n}.npz") for n in "abc")
    assert a["images"].shape == (12, 28, 28, 1) and a["images"].dtype == np.uint8
    assert a["labels"].dtype == np.int32 and list(a["labels"][:3]) == [0, 1, 2]
    assert np.array_equal(a["images"], b["images"])
    assert not np.array_equal(a["images"], c["images"])


@pytest.mark.parametrize("args, message", [
    (["sample", "{gan}", "--steps", "5"], "--steps is for diffusion runs; gan runs take no"),
    (["sample", "{gan}", "--guidance", "2"], "--guidance is for diffusion runs; gan runs"),
    (["sample", "{flow}", "--steps", "0"], "--steps must be an int in [1, 1000], got 0"),
    (["sample", "{flow}", "--guidance", "1000"], "--guidance must be a number in [0, 100]"),
    (["sample", "{flow}", "--guidance", "nan"], "expected a finite number >= 0"),
    (["train", "diffusion", "--out", "{new}", "--latent", "{gan}"],
     "holds a gan run; it must be a vae run"),
    (["train", "diffusion", "--out", "{new}", "--latent", "{missing}"], "no such run folder"),
    (["train", "diffusion", "--out", "{new}", "--latent", "{unfinished}"],
     "the VAE run has not finished"),
    (["train", "diffusion", "--out", "{new}", "--latent-dim", "4"],
     "--latent-dim is for gan and vae runs"),
    (["train", "gan", "--out", "{new}", "--latent", "{gan}"], "--latent is for diffusion runs"),
    (["train", "diffusion", "--out", "{flow}", "--unconditional"],
     "another recipe (num_classes 10, not 0)"),
    (["train", "diffusion", "--out", "{flow}", "--latent", "{unfinished}"],
     "the VAE run has not finished"),
])
def test_diffusion_refusals_exit_2_with_one_line(quick_flow_run, tmp_path, capsys, args,
                                                message):
    gan_run = tmp_path / "gan"
    gan_run.mkdir()
    (gan_run / "run.json").write_text(json.dumps({"model": "gan", "recipe": {}}))
    unfinished = tmp_path / "vae"
    unfinished.mkdir()
    (unfinished / "run.json").write_text(json.dumps({"model": "vae", "recipe": {}}))
    names = {"gan": gan_run, "flow": quick_flow_run, "new": tmp_path / "new",
             "missing": tmp_path / "missing", "unfinished": unfinished}
    argv = [a.format(**names) for a in args]
    if argv[0] == "sample":
        argv += ["--out", str(tmp_path / "s.npz")]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
    assert not (tmp_path / "new").exists() and not (tmp_path / "s.npz").exists()


def test_latent_diffusion_on_a_vae_run_samples_without_it(tmp_path):
    vae_run = tmp_path / "vae"
    assert main(["train", "vae", "--out", str(vae_run), "--quick", "--latent-dim", "4"]) == 0
    flow_run = tmp_path / "flow"
    assert main(["train", "diffusion", "--out", str(flow_run), "--quick", "--latent",
                 str(vae_run)]) == 0
    recipe = json.loads((flow_run / "run.json").read_text())["recipe"]
    assert recipe["latent"] == str(vae_run.resolve()) and recipe["width"] == 256
    shutil.rmtree(vae_run)  # the flow model keeps the decoder it draws with
    digits, labels = runs.sample_with_labels(flow_run, 10, seed=0, guidance=2.0)
    assert digits.shape == (10, 28, 28, 1) and digits.dtype == np.uint8
    assert list(labels) == list(range(10))
