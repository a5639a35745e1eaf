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
SMALL_UNCONDITIONAL = gan.Recipe(width=16, latent_dim=8, batch_size=16, num_classes=0)


def tiny_dataset(n=64, seed=0, labels=True):
    x, y = data.embedded_split("test")
    return data.as_dataset(x[:n], SMALL.batch_size, seed=seed, labels=y[:n] if labels else None)


def test_generator_and_discriminator_shapes_and_range():
    g, d = gan.make_generator(8, 16), gan.make_discriminator(16)
    labels = tf.constant([0, 3, 9, 9, 1])
    x = g([tf.random.normal((5, 8)), labels])
    assert x.shape == (5, 28, 28, 1) and float(tf.reduce_max(tf.abs(x))) <= 1.0
    assert d([x, labels]).shape == (5, 1)
    assert g.name == "generator" and d.name == "discriminator"
    # the label is used: the same noise drawn as two digits differs, and the
    # discriminator scores the same image differently under two labels
    z = tf.random.normal((1, 8))
    assert not np.array_equal(g([z, tf.constant([1])]), g([z, tf.constant([7])]))
    assert not np.array_equal(d([x[:1], tf.constant([1])]), d([x[:1], tf.constant([7])]))


def test_unconditional_networks_take_no_label():
    g, d = gan.make_generator(8, 16, num_classes=0), gan.make_discriminator(16, num_classes=0)
    x = g(tf.random.normal((5, 8)))
    assert x.shape == (5, 28, 28, 1) and d(x).shape == (5, 1)
    assert len(g.inputs) == len(d.inputs) == 1


@pytest.mark.parametrize("num_classes", [1, -1, 2.5, True, "10"])
def test_bad_num_classes_is_rejected(num_classes):
    with pytest.raises(ValueError, match="num_classes must be 0 .* or an int >= 2"):
        gan.make_generator(8, 16, num_classes=num_classes)


def test_cycle_labels_and_generator_inputs():
    assert gan.cycle_labels(12, 10).tolist() == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]
    z = tf.zeros((3, 8))
    assert gan.generator_inputs(z, 0) is z
    _, labels = gan.generator_inputs(z, 10)
    assert labels.dtype == tf.int32 and labels.numpy().tolist() == [0, 1, 2]
    assert gan.generator_inputs(z, 10, [4, 4, 4])[1].numpy().tolist() == [4, 4, 4]
    with pytest.raises(ValueError, match="labels must be in \\[0, 10\\), got 0 to 10"):
        gan.generator_inputs(z, 10, [0, 5, 10])
    with pytest.raises(ValueError, match="labels must be 3 integers"):
        gan.generator_inputs(z, 10, [1, 2])
    with pytest.raises(ValueError, match="the generator is unconditional"):
        gan.generator_inputs(z, 0, [1, 2, 3])


def test_networks_built_for_other_classes_are_rejected():
    g, d = gan.make_generator(8, 16), gan.make_discriminator(16)
    with pytest.raises(ValueError, match="generator takes 2 input.*num_classes=0 needs 1"):
        gan.GAN(g, d, latent_dim=8, num_classes=0)


def test_a_conditional_gan_asks_for_labels():
    model = gan.build_gan(SMALL, seed=0)
    with pytest.raises(ValueError, match="trains on \\(images, labels\\) batches"):
        model.fit(tiny_dataset(labels=False), epochs=1, verbose=0, shuffle=False)


def test_the_unconditional_gan_trains_and_ignores_labels():
    logs = []
    for labels in (False, True):
        keras.utils.set_random_seed(0)
        model = gan.build_gan(SMALL_UNCONDITIONAL, seed=0)
        logs.append(model.fit(tiny_dataset(labels=labels), epochs=1, verbose=0,
                              shuffle=False).history)
    assert all(math.isfinite(v[-1]) for v in logs[0].values())
    assert logs[0] == logs[1]
    with pytest.raises(ValueError, match="the generator is unconditional"):
        model.sample(tf.zeros((2, 8)), labels=[1, 2])


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
    expected = model.sample(z, labels=[5, 5, 0, 1, 2, 9]).numpy()
    script = textwrap.dedent(f"""
        import keras, numpy as np, tensorflow as tf
        g = keras.saving.load_model({str(path)!r}, safe_mode=True)
        z = tf.random.stateless_normal((6, {SMALL.latent_dim}), seed=[3, 0])
        labels = tf.constant([5, 5, 0, 1, 2, 9])
        np.save({str(tmp_path / "x.npy")!r}, g([z, labels], training=False).numpy())
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
    assert loaded.num_classes == SMALL.num_classes
    z = tf.random.normal((2, SMALL.latent_dim))
    assert np.array_equal(loaded.sample(z).numpy(), model.sample(z).numpy())
    # compiled again, with the optimisers' state: training can go on
    assert int(loaded.g_optimizer.iterations) == int(model.g_optimizer.iterations) > 0


def test_bad_ema_is_rejected():
    with pytest.raises(ValueError, match="ema must be in"):
        gan.GAN(gan.make_generator(8, 16), gan.make_discriminator(16), latent_dim=8, ema=1.0)


def test_a_gan_with_its_default_arguments_is_conditional():
    model = gan.GAN(gan.make_generator(8, 16), gan.make_discriminator(16), latent_dim=8)
    assert model.num_classes == gan.Recipe().num_classes == 10


def test_mirrored_strategy_over_two_cpu_devices_trains_and_replicas_agree(two_replica_training):
    report = two_replica_training(
        "model = gan.build_gan(gan.Recipe(width=16, latent_dim=8, batch_size=32), seed=0, "
        "strategy=strategy)\n"
        "dataset = data.as_dataset(x[:128], 32, seed=0, labels=y[:128])")
    assert report["replicas"] == 2 and report["mirrored"] > 10
    assert report["agree"] and report["finite"]
