"""tfimagegen.gan: shapes, losses, determinism, saving, and multi-replica training."""

import math
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfimagegen import data, gan

SMALL = gan.Recipe(width=16, latent_dim=8, batch_size=16)


def tiny_dataset(n=64, seed=0):
    x, _ = data.embedded_split("test")
    return data.as_dataset(x[:n], SMALL.batch_size, seed=seed)


def test_generator_and_discriminator_shapes_and_range():
    g, d = gan.make_generator(8, 16), gan.make_discriminator(16)
    x = g(tf.random.normal((5, 8)))
    assert x.shape == (5, 28, 28, 1) and float(tf.reduce_max(tf.abs(x))) <= 1.0
    assert d(x).shape == (5, 1)
    assert g.name == "generator" and d.name == "discriminator"


def test_losses_match_their_formulas():
    zero = tf.zeros((4, 1))
    assert np.allclose(gan.discriminator_loss(zero, zero), 2 * math.log(2))
    assert np.allclose(gan.generator_loss(zero), math.log(2))
    # a discriminator sure of itself and right has almost no loss
    assert float(tf.reduce_max(gan.discriminator_loss(zero + 20, zero - 20))) < 1e-6


def test_training_gives_finite_losses_and_moves_the_ema():
    keras.utils.set_random_seed(0)
    model = gan.build_gan(SMALL, seed=0)
    before = [w.numpy() for w in model.ema_generator.weights]
    logs = model.fit(tiny_dataset(), epochs=1, verbose=0, shuffle=False).history
    assert all(math.isfinite(v[-1]) for v in logs.values())
    assert set(logs) == {"d_loss", "g_loss", "d_real", "d_fake"}
    after = model.ema_generator.weights
    assert any(not np.array_equal(a, b.numpy()) for a, b in zip(before, after, strict=True))


def test_same_seed_gives_bitwise_identical_weights():
    weights = []
    for _ in range(2):
        keras.utils.set_random_seed(7)
        model = gan.build_gan(SMALL, seed=7)
        model.fit(tiny_dataset(seed=7), epochs=1, verbose=0, shuffle=False)
        weights.append([w.numpy() for w in model.weights])
    assert all(np.array_equal(a, b) for a, b in zip(*weights, strict=True))


def test_generator_reloads_in_a_fresh_process_with_safe_mode(tmp_path):
    keras.utils.set_random_seed(0)
    model = gan.build_gan(SMALL, seed=0)
    model.fit(tiny_dataset(), epochs=1, verbose=0, shuffle=False)
    path = tmp_path / "generator.keras"
    model.ema_generator.save(path)
    z = tf.random.stateless_normal((6, SMALL.latent_dim), seed=[3, 0])
    expected = model.sample(z).numpy()
    script = textwrap.dedent(f"""
        import keras, numpy as np, tensorflow as tf
        g = keras.saving.load_model({str(path)!r}, safe_mode=True)
        z = tf.random.stateless_normal((6, {SMALL.latent_dim}), seed=[3, 0])
        np.save({str(tmp_path / "x.npy")!r}, g(z, training=False).numpy())
    """)
    subprocess.run([sys.executable, "-c", script], check=True, capture_output=True,
                   env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"), timeout=300)
    assert np.array_equal(np.load(tmp_path / "x.npy"), expected)


def test_whole_gan_round_trips_through_keras_file(tmp_path):
    keras.utils.set_random_seed(0)
    model = gan.build_gan(SMALL, seed=0)
    model.fit(tiny_dataset(), epochs=1, verbose=0, shuffle=False)
    model.save(tmp_path / "gan.keras")
    loaded = keras.saving.load_model(tmp_path / "gan.keras")
    assert isinstance(loaded, gan.GAN) and loaded.latent_dim == SMALL.latent_dim
    z = tf.random.normal((2, SMALL.latent_dim))
    assert np.array_equal(loaded.sample(z).numpy(), model.sample(z).numpy())
    # compiled again, with the optimisers' state: training can go on
    assert int(loaded.g_optimizer.iterations) == int(model.g_optimizer.iterations) > 0


def test_bad_ema_is_rejected():
    with pytest.raises(ValueError, match="ema must be in"):
        gan.GAN(gan.make_generator(8, 16), gan.make_discriminator(16), latent_dim=8, ema=1.0)


def test_mirrored_strategy_over_two_cpu_devices_trains_and_replicas_agree(two_replica_training):
    report = two_replica_training(
        "model = gan.build_gan(gan.Recipe(width=16, latent_dim=8, batch_size=32), seed=0, "
        "strategy=strategy)\n"
        "dataset = data.as_dataset(x[:128], 32, seed=0)")
    assert report["replicas"] == 2 and report["mirrored"] > 10
    assert report["agree"] and report["finite"]
