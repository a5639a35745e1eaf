"""tfimagegen.vae: shapes, the loss terms, the bounds, determinism, saving, several replicas."""

import math
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfimagegen import data, vae

SMALL = vae.Recipe(latent_dim=4, width=8, batch_size=16)


@pytest.fixture(scope="module")
def digits():
    return data.embedded_split("test")[0][:64]


def tiny_dataset(digits, seed=0):
    return data.as_dataset(data.binarize(digits), SMALL.batch_size, seed=seed, scale="unit")


@pytest.fixture(scope="module")
def trained(digits):
    keras.utils.set_random_seed(0)
    model = vae.build_vae(SMALL, seed=0)
    model.fit(tiny_dataset(digits), epochs=2, verbose=0, shuffle=False)
    return model


def test_encoder_and_decoder_shapes_and_names():
    encoder, decoder = vae.make_encoder(3, 8), vae.make_decoder(3, 8)
    mean, log_var = encoder(tf.zeros((5, 28, 28, 1)))
    assert mean.shape == log_var.shape == (5, 3)
    assert decoder(mean).shape == (5, 28, 28, 1)
    assert encoder.name == "encoder" and decoder.name == "decoder"


def test_kl_divergence_matches_its_closed_form():
    assert np.allclose(vae.kl_divergence(tf.zeros((2, 3)), tf.zeros((2, 3))), 0.0)
    mean, log_var = tf.constant([[1.0, -2.0]]), tf.constant([[math.log(4.0), 0.0]])
    # per dimension: (sigma^2 + mu^2 - 1 - log sigma^2) / 2
    expected = (4 + 1 - 1 - math.log(4)) / 2 + (1 + 4 - 1 - 0) / 2
    assert np.allclose(vae.kl_divergence(mean, log_var), [expected])


def test_reconstruction_loss_is_the_bernoulli_negative_log_likelihood():
    x = tf.constant(np.random.default_rng(0).integers(0, 2, (2, 28, 28, 1)), tf.float32)
    logits = tf.zeros_like(x)  # p = 1/2 for every pixel: 784 * log 2 nats
    assert np.allclose(vae.reconstruction_loss(x, logits), 784 * math.log(2), rtol=1e-6)


def test_sampling_is_reparameterised_and_seeded():
    mean, log_var = tf.fill((1000, 2), 3.0), tf.fill((1000, 2), math.log(0.25))
    z = vae.Sampling(seed=1)([mean, log_var]).numpy()
    assert np.allclose(z.mean(), 3.0, atol=0.05) and np.allclose(z.std(), 0.5, atol=0.05)
    assert np.array_equal(z, vae.Sampling(seed=1)([mean, log_var]).numpy())
    with tf.GradientTape() as tape:
        tape.watch(mean)
        total = tf.reduce_sum(vae.Sampling(seed=1)([mean, log_var]))
    assert np.allclose(tape.gradient(total, mean), 1.0)  # dz/dmean = 1: gradients flow


def test_training_tracks_three_finite_losses_and_lowers_the_loss(digits):
    keras.utils.set_random_seed(0)
    model = vae.build_vae(SMALL, seed=0)
    history = model.fit(tiny_dataset(digits), epochs=3, verbose=0, shuffle=False).history
    assert set(history) == {"loss", "reconstruction", "kl"}
    assert all(math.isfinite(v) for values in history.values() for v in values)
    assert history["loss"][-1] < history["loss"][0]
    assert np.allclose(history["loss"], np.add(history["reconstruction"], history["kl"]),
                       rtol=1e-5)


def test_beta_may_be_any_real_number_type():
    model = vae.VAE(vae.make_encoder(2, 8), vae.make_decoder(2, 8), beta=np.float32(0.5))
    assert model.beta == 0.5


def test_beta_weights_the_kl_term_in_the_loss(digits):
    keras.utils.set_random_seed(0)
    model = vae.build_vae(vae.Recipe(latent_dim=4, width=8, beta=4.0), seed=0)
    logs = model.evaluate(tiny_dataset(digits), verbose=0, return_dict=True)
    assert np.isclose(logs["loss"], logs["reconstruction"] + 4.0 * logs["kl"], rtol=1e-5)


@pytest.mark.parametrize("kwargs, message", [
    ({"beta": -1.0}, "beta must be a finite number >= 0"),
    ({"beta": float("nan")}, "beta must be a finite number >= 0"),
    ({"beta": "1"}, "beta must be a finite number >= 0"),
    ({"shift": -1}, "shift must be an int >= 0"),
    ({"shift": 1.5}, "shift must be an int >= 0"),
])
def test_bad_beta_and_shift_are_rejected(kwargs, message):
    with pytest.raises(ValueError, match=message):
        vae.VAE(vae.make_encoder(2, 8), vae.make_decoder(2, 8), **kwargs)


def test_shift_moves_digits_by_whole_pixels_only_while_training():
    model = vae.VAE(vae.make_encoder(2, 8), vae.make_decoder(2, 8), shift=1, seed=0)
    x = np.zeros((500, 28, 28, 1), np.float32)
    x[:, 14, 14] = 1.0
    moved = model.augment(x, training=True).numpy()
    assert np.array_equal(np.unique(moved), [0.0, 1.0])  # still binary
    rows, cols = np.nonzero(moved[..., 0].max(axis=0))
    assert set(rows) == set(cols) == {13, 14, 15}
    assert np.array_equal(model.augment(x, training=False).numpy(), x)


def test_elbo_and_iwae_are_seeded_and_ordered(trained, digits):
    first, second = vae.elbo(trained, digits, seed=3), vae.elbo(trained, digits, seed=3)
    assert first == second and first < 0
    iwae_1 = vae.iwae_bound(trained, digits, k=1, seed=3)
    iwae_50 = vae.iwae_bound(trained, digits, k=50, seed=3)
    # L_1 estimates the ELBO (with a sampled KL); L_50 is a tighter bound
    assert abs(iwae_1 - first) < 5
    assert iwae_50 > first
    # images go in as uint8 and are binarised: the same digits as a 3-D array score the same
    assert vae.elbo(trained, digits[..., 0], seed=3) == first


@pytest.mark.parametrize("images, error, message", [
    (np.zeros((4, 28, 28, 1), np.float32), TypeError, "must be uint8"),
    (np.zeros((4, 32, 32, 1), np.uint8), ValueError, r"\(N, 28, 28, 1\)"),
    (np.zeros((0, 28, 28), np.uint8), ValueError, r"\(N, 28, 28, 1\)"),
])
def test_bounds_reject_bad_images(trained, images, error, message):
    with pytest.raises(error, match=message):
        vae.elbo(trained, images)
    with pytest.raises(error, match=message):
        vae.iwae_bound(trained, images, k=2)


def test_iwae_decodes_a_large_k_in_bounded_chunks(trained, digits):
    """elbo --k 100000 once decoded all k latents of an image at once (24 GB)."""
    sizes = []

    def decoder(z, training=False):
        sizes.append(int(z.shape[0]))
        return trained.decoder(z, training=training)

    spy = type("Spy", (), {"encoder": trained.encoder, "decoder": staticmethod(decoder),
                           "latent_shape": trained.latent_shape, "likelihood": "bernoulli",
                           "prepare": staticmethod(trained.prepare),
                           "log_likelihood": staticmethod(trained.log_likelihood)})()
    chunked = vae.iwae_bound(spy, digits[:2], k=250, seed=1, samples_per_batch=100)
    assert max(sizes) <= 100 and sum(sizes) == 2 * 250
    whole = vae.iwae_bound(trained, digits[:2], k=250, seed=1)  # one call per image batch
    assert abs(chunked - whole) < 1.0  # the same bound, estimated with other draws
    assert vae.iwae_bound(spy, digits[:2], k=250, seed=1, samples_per_batch=100) == chunked


@pytest.mark.parametrize("k", [0, 2.5, True])
def test_iwae_rejects_a_bad_k(trained, digits, k):
    with pytest.raises(ValueError, match="k must be an int >= 1"):
        vae.iwae_bound(trained, digits, k=k)


def test_latent_grid_decodes_normal_quantiles():
    keras.utils.set_random_seed(0)
    model = vae.build_vae(vae.Recipe(latent_dim=2, width=8), seed=0)
    grid = vae.latent_grid(model, n=5)
    assert grid.shape == (140, 140) and grid.dtype == np.uint8
    # the top-left cell is z = (ndtri(0.1), ndtri(0.9))
    z = tf.constant([[-1.2815516, 1.2815516]])
    expected = np.round(model.sample(z).numpy()[0, ..., 0] * 255).astype(np.uint8)
    assert np.abs(grid[:28, :28].astype(int) - expected).max() <= 1


def test_latent_grid_needs_two_latent_dimensions(trained):
    with pytest.raises(ValueError, match="latent_dim 2, got 4"):
        vae.latent_grid(trained)


def test_latent_grid_needs_at_least_two_points_a_side():
    model = vae.build_vae(vae.Recipe(latent_dim=2, width=8), seed=0)
    with pytest.raises(ValueError, match="n must be an int >= 2, got 1"):
        vae.latent_grid(model, n=1)


def test_same_seed_gives_bitwise_identical_weights(digits):
    weights = []
    for _ in range(2):
        keras.utils.set_random_seed(7)
        model = vae.build_vae(SMALL, seed=7)
        model.fit(tiny_dataset(digits, seed=7), epochs=1, verbose=0, shuffle=False)
        weights.append([w.numpy() for w in model.weights])
    assert all(np.array_equal(a, b) for a, b in zip(*weights, strict=True))


def test_vae_reloads_in_a_fresh_process_with_safe_mode(trained, digits, tmp_path):
    path = tmp_path / "vae.keras"
    trained.save(path)
    z = tf.random.stateless_normal((6, SMALL.latent_dim), seed=[3, 0])
    np.save(tmp_path / "digits.npy", digits)
    script = textwrap.dedent(f"""
        import json, keras, numpy as np, tensorflow as tf
        from tfimagegen import vae
        model = keras.saving.load_model({str(path)!r}, safe_mode=True)
        z = tf.random.stateless_normal((6, {SMALL.latent_dim}), seed=[3, 0])
        np.save({str(tmp_path / "x.npy")!r}, model.sample(z).numpy())
        digits = np.load({str(tmp_path / "digits.npy")!r})
        print(json.dumps({{"elbo": vae.elbo(model, digits, seed=1), "beta": model.beta,
                           "iterations": int(model.optimizer.iterations)}}))
    """)
    result = subprocess.run([sys.executable, "-c", script], check=True, capture_output=True,
                            text=True, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"),
                            timeout=300)
    import json

    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert np.array_equal(np.load(tmp_path / "x.npy"), trained.sample(z).numpy())
    assert report["elbo"] == vae.elbo(trained, digits, seed=1)
    assert report["iterations"] == int(trained.optimizer.iterations) > 0  # optimiser state too


def test_mirrored_strategy_over_two_cpu_devices_trains_and_replicas_agree(two_replica_training):
    report = two_replica_training(
        "model = vae.build_vae(vae.Recipe(latent_dim=4, width=8), seed=0, strategy=strategy)\n"
        "dataset = data.as_dataset(data.binarize(x[:128]), 32, seed=0, scale='unit')")
    assert report["replicas"] == 2 and report["mirrored"] > 8
    assert report["agree"] and report["finite"]
