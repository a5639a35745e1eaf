"""tfimagegen.noise: statistics, determinism, dtype/shape/range, bad input."""

import math
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from scipy import stats

from tfimagegen import noise

GREY_U8 = np.full((32, 32, 3), 128, np.uint8)
GREY_F32 = np.full((8, 32, 32, 1), 0.5, np.float32)
ADDERS = [
    lambda x, **kw: noise.add_gaussian(x, stddev=0.2, **kw),
    lambda x, **kw: noise.add_uniform(x, amount=0.2, **kw),
    lambda x, **kw: noise.salt_and_pepper(x, amount=0.2, **kw),
    lambda x, **kw: noise.poisson(x, peak=10.0, **kw),
]
ADDER_IDS = ["gaussian", "uniform", "salt_and_pepper", "poisson"]


def test_gaussian_matches_normal_pdf():
    x = noise.gaussian((200, 200), mean=2.0, stddev=3.0, seed=1).numpy().ravel()
    assert x.mean() == pytest.approx(2.0, abs=0.03)
    assert x.std() == pytest.approx(3.0, rel=0.01)
    assert stats.kstest(x, "norm", args=(2.0, 3.0)).pvalue > 1e-3


def test_uniform_matches_uniform_pdf_and_std_is_half_width_over_sqrt3():
    a = 0.3
    x = noise.uniform((200, 200), minval=-a, maxval=a, seed=2).numpy().ravel()
    assert x.min() >= -a and x.max() < a
    assert x.std() == pytest.approx(a / math.sqrt(3), rel=0.01)
    assert stats.kstest(x, "uniform", args=(-a, 2 * a)).pvalue > 1e-3


def test_int_seed_repeats_and_none_differs():
    a = noise.gaussian((16, 16), seed=7).numpy()
    assert np.array_equal(a, noise.gaussian((16, 16), seed=7).numpy())
    assert not np.array_equal(a, noise.gaussian((16, 16), seed=8).numpy())
    assert not np.array_equal(noise.gaussian((16, 16)).numpy(), noise.gaussian((16, 16)).numpy())


UNSEEDED_TWICE = """
import keras, numpy as np
from tfimagegen import noise
keras.utils.set_random_seed(3)
a, b = noise.gaussian((4, 4)).numpy(), noise.gaussian((4, 4)).numpy()
print(a.tobytes().hex(), b.tobytes().hex())
"""


def test_set_random_seed_makes_unseeded_calls_repeatable_in_a_fresh_process():
    """What notebook 01 promises: a learner who restarts the kernel gets the same noise."""
    runs = [subprocess.run([sys.executable, "-c", UNSEEDED_TWICE], capture_output=True,
                           text=True, check=True, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
                           ).stdout.split() for _ in range(2)]
    assert runs[0] == runs[1]  # the same sequence in two processes
    assert runs[0][0] != runs[0][1]  # successive calls differ


@pytest.mark.parametrize("shape", [(9, 7), (9, 7, 3), (2, 9, 7, 1)])
def test_noise_images_have_the_requested_shape(shape):
    for image in (noise.gaussian(shape, seed=0), noise.uniform(shape, seed=0),
                  noise.fractal(shape, seed=0)):
        assert tuple(image.shape) == shape and image.dtype == tf.float32


def test_a_tileable_fractal_continues_across_opposite_edges():
    """Laid side by side, a tileable texture steps no more at the seam than inside."""
    def steps(x):
        inside = np.abs(np.diff(x, axis=1)).mean(), np.abs(np.diff(x, axis=0)).mean()
        seam = np.abs(x[:, 0] - x[:, -1]).mean(), np.abs(x[0] - x[-1]).mean()
        return inside, seam

    for seed in range(3):
        tile = noise.fractal((96, 128), octaves=5, seed=seed, tileable=True).numpy()
        assert tile.min() == 0 and tile.max() == 1
        inside, seam = steps(tile)
        assert seam[0] < 2 * inside[0] and seam[1] < 2 * inside[1]
        inside, seam = steps(noise.fractal((96, 128), octaves=5, seed=seed).numpy())
        assert seam[0] > 5 * inside[0] or seam[1] > 5 * inside[1]  # an ordinary one has a seam
    batch = noise.fractal((2, 32, 32, 3), seed=0, tileable=True)
    assert batch.shape == (2, 32, 32, 3)
    with pytest.raises(TypeError, match="tileable must be True or False, got str 'yes'"):
        noise.fractal((8, 8), tileable="yes")


def test_fractal_lies_in_unit_range_and_is_smooth():
    x = noise.fractal((128, 128), octaves=4, seed=0).numpy()
    assert x.min() == pytest.approx(0.0, abs=1e-6) and x.max() == pytest.approx(1.0, abs=1e-6)
    # neighbouring pixels are strongly correlated, unlike white noise
    r = np.corrcoef(x[:, :-1].ravel(), x[:, 1:].ravel())[0, 1]
    assert r > 0.9
    white = noise.uniform((128, 128), seed=0).numpy()
    assert abs(np.corrcoef(white[:, :-1].ravel(), white[:, 1:].ravel())[0, 1]) < 0.05


@pytest.mark.parametrize("add", ADDERS, ids=ADDER_IDS)
@pytest.mark.parametrize("image", [GREY_U8, GREY_F32, GREY_U8[..., 0],
                                   GREY_F32.astype(np.float64)], ids=["u8", "f32", "hw", "f64"])
def test_adders_keep_type_shape_dtype_and_range(add, image):
    out = add(image, seed=0)
    assert isinstance(out, np.ndarray)
    assert out.shape == image.shape and out.dtype == image.dtype
    hi = 255 if image.dtype == np.uint8 else 1.0
    assert out.min() >= 0 and out.max() <= hi
    assert not np.array_equal(out, image)


@pytest.mark.parametrize("add", ADDERS, ids=ADDER_IDS)
def test_adders_return_tensors_for_tensors_and_repeat_with_seed(add):
    x = tf.constant(GREY_F32)
    out = add(x, seed=5)
    assert isinstance(out, tf.Tensor) and out.dtype == tf.float32
    assert np.array_equal(out.numpy(), add(x, seed=5).numpy())


def test_add_gaussian_keeps_uint8_dtype_and_has_the_right_std():
    out = noise.add_gaussian(GREY_U8, stddev=0.1, seed=0)
    assert out.dtype == np.uint8
    assert (out.astype(float) - 128).std() == pytest.approx(25.5, rel=0.05)


def test_add_gaussian_clip_false_leaves_floats_out_of_range():
    out = noise.add_gaussian(GREY_F32, stddev=1.0, seed=0, clip=False)
    assert out.min() < 0 and out.max() > 1


def test_add_uniform_amount_is_half_width():
    out = noise.add_uniform(GREY_F32, amount=0.2, seed=0, clip=False) - 0.5
    assert out.min() >= -0.2 and out.max() <= 0.2
    assert out.std() == pytest.approx(0.2 / math.sqrt(3), rel=0.03)


def test_salt_and_pepper_hits_the_requested_fraction_of_whole_pixels():
    image = np.full((100, 100, 3), 0.5, np.float32)
    out = noise.salt_and_pepper(image, amount=0.1, seed=0)
    hit = (out != 0.5).any(axis=-1)
    assert hit.mean() == pytest.approx(0.1, abs=0.01)
    assert ((out[hit] == 0).all(axis=-1) | (out[hit] == 1).all(axis=-1)).all()
    assert (out[hit] == 0).all(axis=-1).mean() == pytest.approx(0.5, abs=0.05)


def test_poisson_noise_grows_with_brightness_and_falls_with_peak():
    # black and mid-grey columns; mid-grey keeps white clipping out of the way
    ramp = np.array([0.0, 0.5], np.float32).reshape(1, 2, 1).repeat(20000, axis=0)
    out = noise.poisson(ramp, peak=50.0, seed=0)
    assert out[:, 0].std() == 0  # black stays black
    assert out[:, 1].mean() == pytest.approx(0.5, abs=0.005)
    assert out[:, 1].std() == pytest.approx(math.sqrt(0.5 / 50), rel=0.05)
    brighter = noise.poisson(ramp, peak=500.0, seed=0)
    assert brighter[:, 1].std() < out[:, 1].std()


@pytest.mark.parametrize("call, match", [
    (lambda: noise.add_gaussian(GREY_F32, stddev=-0.1), "stddev must be >= 0, got -0.1"),
    (lambda: noise.add_uniform(GREY_F32, amount=-1), "amount must be >= 0"),
    (lambda: noise.salt_and_pepper(GREY_F32, amount=1.5), "amount must be <= 1"),
    (lambda: noise.poisson(GREY_F32, peak=0), "peak must be > 0"),
    (lambda: noise.add_gaussian(np.zeros(5, np.float32)), "rank 2 .* got rank 1"),
    (lambda: noise.add_gaussian(np.zeros((1, 2, 3, 4, 5), np.float32)), "got rank 5"),
    (lambda: noise.add_gaussian(np.array([[0.5, np.nan]])), "NaN or inf"),
    (lambda: noise.add_gaussian(np.array([[0.5, np.inf]])), "NaN or inf"),
    (lambda: noise.add_gaussian(np.array([[0.0, 255.0]])), r"\[0, 1\].*x / 255"),
    (lambda: noise.add_gaussian(np.array([[-1.0, 1.0]])), r"\(x \+ 1\) / 2"),
    (lambda: noise.gaussian((4,)), "shape must have 2"),
    (lambda: noise.gaussian((4, 0)), "positive ints"),
    (lambda: noise.gaussian((4, 4), stddev=float("nan")), "stddev must be finite"),
    (lambda: noise.uniform((4, 4), minval=1, maxval=0), "maxval must be > minval"),
    (lambda: noise.fractal((4, 4), octaves=0), "octaves must be in 1..10"),
    (lambda: noise.fractal((4, 4), persistence=0), "persistence must be > 0"),
])
def test_bad_values_raise_value_error_naming_the_argument(call, match):
    with pytest.raises(ValueError, match=match):
        call()


@pytest.mark.parametrize("call, match", [
    (lambda: noise.add_gaussian("photo.png"), "got a string"),
    (lambda: noise.add_gaussian(np.array([["a", "b"]])), "dtype"),
    (lambda: noise.add_gaussian(np.zeros((4, 4), np.int32)), "got dtype int32"),
    (lambda: noise.add_gaussian(GREY_F32, stddev="0.1"), "stddev must be a real number"),
    (lambda: noise.add_gaussian(GREY_F32, seed=1.5), "seed must be an int"),
    (lambda: noise.gaussian("64x64"), "shape must be a tuple"),
    (lambda: noise.fractal((8, 8), octaves=2.5), "octaves must be an int"),
])
def test_bad_types_raise_type_error(call, match):
    with pytest.raises(TypeError, match=match):
        call()


def test_new_noise_levels_do_not_retrace_the_graph():
    from tfimagegen.noise import _plus_gaussian

    for level in (0.1, 0.2, 0.3):
        noise.add_gaussian(GREY_F32, stddev=level, seed=0)
    traced = _plus_gaussian.experimental_get_tracing_count()
    for level in (0.4, 0.5, 0.6):
        noise.add_gaussian(GREY_F32, stddev=level, seed=0)
    assert _plus_gaussian.experimental_get_tracing_count() == traced


SEED_RANGE = r"seed must be an int in \[0, 2\*\*63\)"


@pytest.mark.parametrize("call, error, match", [
    (lambda: noise.add_uniform(GREY_F32, amount=1e39), ValueError, r"at most 3.4e\+38"),
    (lambda: noise.poisson(GREY_F32, peak=1e9), ValueError, r"peak must be <= 1e\+08"),
    (lambda: noise.add_gaussian(np.zeros((0, 8, 8, 1), np.float32)), ValueError,
     "at least one pixel"),
    (lambda: noise.gaussian((4, 4), seed=2**63), ValueError, SEED_RANGE),
    (lambda: noise.gaussian((4, 4), seed=-1), ValueError, SEED_RANGE),
])
def test_hostile_numbers_get_a_clear_error(call, error, match):
    with pytest.raises(error, match=match):
        call()
