"""Textures learnt from one photo: circular convolutions, the torus network, crops, seams."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfimagegen import noise, texture


def test_circular_conv_is_a_valid_conv_of_the_wrapped_image():
    x = np.random.default_rng(0).normal(size=(2, 8, 8, 3)).astype(np.float32)
    conv = texture.CircularConv2D(4, 3)
    plain = keras.layers.Conv2D(4, 3, padding="valid")
    plain.build(x.shape)
    out = conv(x)
    plain.set_weights(conv.get_weights())
    wrapped = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="wrap")
    np.testing.assert_allclose(out, plain(wrapped), atol=1e-5)
    assert conv.compute_output_shape((None, None, None, 3)) == (None, None, None, 4)


def test_circular_conv_with_stride_two_halves_the_side_and_follows_shifts():
    x = np.random.default_rng(1).normal(size=(1, 8, 8, 2)).astype(np.float32)
    conv = texture.CircularConv2D(3, 3, strides=2)
    out = np.asarray(conv(x))
    assert out.shape == (1, 4, 4, 3)
    shifted = np.asarray(conv(np.roll(x, 2, axis=2)))
    np.testing.assert_allclose(shifted, np.roll(out, 1, axis=2), atol=1e-5)


def test_circular_conv_refuses_other_padding():
    with pytest.raises(ValueError, match="padding must be 'same'"):
        texture.CircularConv2D(3, 3, padding="causal")


def test_texture_unet_draws_a_torus_at_any_size():
    """Shifting the input by the network's total stride shifts its output the same way, edges
    included: what the network draws has no edge, so it tiles. Zero padding would fail this."""
    net = texture.make_texture_unet(channels=1, width=8, cond_dim=16)
    rng = np.random.default_rng(2)
    for side in (16, 24):
        x = rng.normal(size=(1, side, side, 1)).astype(np.float32)
        t = np.full((1,), 0.5, np.float32)
        out = np.asarray(net([x, t]))
        assert out.shape == x.shape
        moved = np.asarray(net([np.roll(x, (4, 8), axis=(1, 2)), t]))
        np.testing.assert_allclose(moved, np.roll(out, (4, 8), axis=(1, 2)), atol=1e-4)


def test_photo_split_and_crops():
    photo = texture.load_photo("gravel", scale=4)
    assert photo.shape == (128, 128, 1) and photo.dtype == np.uint8
    train, held_out = texture.split_photo(photo)
    assert train.shape[1] == 85 and held_out.shape[1] == 43
    np.testing.assert_array_equal(np.concatenate([train, held_out], axis=1), photo)
    crops = texture.random_crops(held_out, 32, 10, seed=0)
    assert crops.shape == (10, 32, 32, 1)
    np.testing.assert_array_equal(crops, texture.random_crops(held_out, 32, 10, seed=0))
    with pytest.raises(ValueError, match="size must be in"):
        texture.random_crops(held_out, 44, 1)
    with pytest.raises(ValueError, match="name must be one of"):
        texture.load_photo("bricks")
    with pytest.raises(ValueError, match="scale must be"):
        texture.load_photo("brick", scale=0)


def test_seam_ratio_tells_a_tileable_texture_from_a_plain_one():
    plain = noise.fractal((64, 64), octaves=4, seed=0).numpy()
    tileable = noise.fractal((64, 64), octaves=4, seed=0, tileable=True).numpy()
    assert texture.seam_ratio(tileable) < 2.0 < texture.seam_ratio(plain)
    ramp = np.tile(np.arange(16.0), (16, 1))  # steps of 1 across, 0 down; seams of 15 and 0
    assert texture.seam_ratio(ramp) == pytest.approx(7.5 / 0.5)


def test_colourise_maps_grey_to_rgb():
    rgb = texture.colourise(np.linspace(0, 1, 16).reshape(4, 4, 1))
    assert rgb.shape == (4, 4, 3) and rgb.dtype == np.float32
    assert 0.0 <= rgb.min() and rgb.max() <= 1.0
    assert not np.allclose(rgb[..., 0], rgb[..., 2])  # colour, not grey


def test_texture_flow_trains_on_crops_samples_larger_and_reloads(tmp_path):
    photo = texture.load_photo("gravel", scale=4)
    crops = texture.random_crops(texture.split_photo(photo)[0], 16, 64, seed=0)
    model = texture.build_texture_flow(width=8, steps=2, seed=0)
    model.fit(crops.astype(np.float32) / 127.5 - 1.0, batch_size=32, epochs=1, verbose=0)
    z = tf.random.stateless_normal((2, 32, 32, 1), seed=[0, 0])
    drawn = model.generate(z)
    assert drawn.shape == (2, 32, 32, 1) and np.isfinite(drawn).all()
    assert -1.0 <= drawn.min() and drawn.max() <= 1.0
    with pytest.raises(ValueError, match="one example per image"):
        model.generate(tf.zeros((1, 32, 32, 3)))
    path = tmp_path / "texture.keras"
    model.save(path)
    again = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_allclose(again.generate(z), drawn, atol=1e-5)
