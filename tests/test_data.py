"""tfimagegen.data: offline digits, the fallback, npz loading, the tf.data pipeline."""

import hashlib

import numpy as np
import pytest

from tfimagegen import data

# sha256 of images + labels: a change to a split between versions fails here
SPLIT_DIGESTS = {
    "embedded train": "841eecd25ce7421fe7fb2693e7b1d994b97181941b3a1942b80e953739366fed",
    "embedded test": "bed7e6da1977ace71d9d4a883373006a501c2a88a08f7b334cc4456753bb8f9c",
    "train": "e39389210fafbfffe4d0da4c10bba4c03be80e452c4dffd491c6d298f027efb7",
    "validation": "7b4c1a785066584ca6d1154321e0d3ebe98e8cf906a602a3cbbe2c237fc84629",
}


def digest(x, y):
    return hashlib.sha256(x.tobytes() + y.tobytes()).hexdigest()


@pytest.fixture(scope="module")
def split():
    return {s: data.embedded_split(s) for s in ("train", "test")}


def test_embedded_split_is_real_balanced_and_disjoint(split):
    (x_train, y_train), (x_test, y_test) = split["train"], split["test"]
    assert x_train.shape == (4000, 28, 28, 1) and x_test.shape == (1000, 28, 28, 1)
    assert x_train.dtype == np.uint8 and y_train.dtype == np.uint8
    assert np.bincount(y_train).tolist() == [400] * 10
    assert np.bincount(y_test).tolist() == [100] * 10
    train_rows = {row.tobytes() for row in x_train}
    assert not any(row.tobytes() in train_rows for row in x_test)
    # real digits: dark background, bright strokes, ~19 % of pixels lit
    assert x_train.max() == 255 and x_train[:, 0, 0].max() == 0
    assert 0.1 < (x_train > 127).mean() < 0.3


def test_splits_are_pinned_across_versions(split):
    assert digest(*split["train"]) == SPLIT_DIGESTS["embedded train"]
    assert digest(*split["test"]) == SPLIT_DIGESTS["embedded test"]
    for name in ("train", "validation"):
        assert digest(*data.load_mnist(name, source="embedded")) == SPLIT_DIGESTS[name]
    assert len(set(split["test"][1][:20].tolist())) > 3  # shuffled, not sorted by class


def test_validation_is_carved_from_the_training_digits_balanced_and_disjoint(split):
    x_train, y_train = data.load_mnist("train", source="embedded")
    x_val, y_val = data.load_mnist("validation", source="embedded")
    assert len(x_train) == 3000 and np.bincount(y_train).tolist() == [300] * 10
    assert len(x_val) == 1000 and np.bincount(y_val).tolist() == [100] * 10
    rows = {row.tobytes() for row in x_train}
    assert not any(row.tobytes() in rows for row in x_val)
    embedded = {row.tobytes() for row in split["train"][0]}
    assert all(row.tobytes() in embedded for row in x_val)


def test_split_validation_needs_more_digits_than_it_holds_out():
    with pytest.raises(ValueError, match="class 1 has 3 digits"):
        data.split_validation(np.zeros((7, 2, 2, 1)), np.array([0, 0, 0, 0, 1, 1, 1]),
                              per_class=3)
    with pytest.raises(ValueError, match=r"labels must have shape \(4,\)"):
        data.split_validation(np.zeros((4, 2, 2, 1)), np.zeros(3))
    with pytest.raises(ValueError, match="per_class must be an int >= 1, got 0"):
        data.split_validation(np.zeros((4, 2, 2, 1)), np.zeros(4), per_class=0)


def test_online_mnist_gives_the_official_splits_and_a_validation_split(online):
    assert data.mnist_source() == "keras"
    sizes = {s: len(data.load_mnist(s)[0]) for s in ("train", "validation", "test")}
    assert sizes == {"train": 59_000, "validation": 1000, "test": 10_000}
    assert np.bincount(data.load_mnist("validation")[1]).tolist() == [100] * 10


def test_load_mnist_embedded_source(split, monkeypatch):
    x, y = data.load_mnist("test", source="embedded")
    assert np.array_equal(x, split["test"][0])
    monkeypatch.setenv("TFIMAGEGEN_DATA_SOURCE", "embedded")
    assert np.array_equal(data.load_mnist("test")[0], split["test"][0])  # the env default


def test_load_mnist_falls_back_with_one_message(monkeypatch, capsys, split):
    attempts = []

    def offline(name, split):
        attempts.append(name)
        raise Exception("URL fetch failure")  # what keras raises offline

    monkeypatch.setattr(data, "_from_keras", offline)
    monkeypatch.setattr(data, "_announced", set())
    monkeypatch.setattr(data, "_unreachable", set())
    assert data.mnist_source("auto") == "embedded"
    data.load_mnist("train", source="auto")
    x, _ = data.load_mnist("test", source="auto")
    assert np.array_equal(x, split["test"][0])
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "embedded digits" in lines[0]
    assert attempts == ["mnist"]  # one failed download per process, not one per call
    with pytest.raises(Exception, match="URL fetch failure"):
        data.load_mnist(source="keras")


def test_load_fashion_mnist_offline_says_where_to_put_the_files(monkeypatch):
    def offline(name, split):
        raise Exception("URL fetch failure")

    monkeypatch.setattr(data, "_from_keras", offline)
    with pytest.raises(RuntimeError, match=r"fashion-mnist"):
        data.load_fashion_mnist()


@pytest.mark.parametrize("call, error, match", [
    (lambda: data.load_mnist("valid"), ValueError, "split must be one of"),
    (lambda: data.load_mnist(source="web"), ValueError, "source must be one of"),
])
def test_load_mnist_bad_arguments(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_load_npz_round_trip_and_errors(tmp_path):
    x = np.zeros((5, 8, 8), np.uint8)
    np.savez(tmp_path / "ok.npz", x=x, y=np.arange(5))
    images, labels = data.load_npz(tmp_path / "ok.npz")
    assert images.shape == (5, 8, 8, 1) and labels.tolist() == [0, 1, 2, 3, 4]
    np.savez(tmp_path / "nolabels.npz", x=x)
    assert data.load_npz(tmp_path / "nolabels.npz")[1] is None

    np.savez(tmp_path / "key.npz", pixels=x)
    np.savez(tmp_path / "float.npz", x=x.astype(np.float32))
    np.savez(tmp_path / "shape.npz", x=np.zeros((5, 8), np.uint8))
    np.savez(tmp_path / "labels.npz", x=x, y=np.arange(4))
    (tmp_path / "text.npz").write_text("hello")
    with pytest.raises(FileNotFoundError, match="no such file"):
        data.load_npz(tmp_path / "missing.npz")
    with pytest.raises(ValueError, match=r"no key 'x' or 'images'; it has \['pixels'\]"):
        data.load_npz(tmp_path / "key.npz")
    with pytest.raises(TypeError, match="must be uint8.*float32"):
        data.load_npz(tmp_path / "float.npz")
    with pytest.raises(ValueError, match=r"got shape \(5, 8\)"):
        data.load_npz(tmp_path / "shape.npz")
    with pytest.raises(ValueError, match=r"must have shape \(5,\)"):
        data.load_npz(tmp_path / "labels.npz")
    with pytest.raises(ValueError, match="not a .npz file"):
        data.load_npz(tmp_path / "text.npz")


def test_load_npz_reads_what_sample_writes(tmp_path):
    x = np.zeros((3, 28, 28, 1), np.uint8)
    np.savez(tmp_path / "sampled.npz", images=x, labels=np.array([7, 8, 9], np.int32))
    images, labels = data.load_npz(tmp_path / "sampled.npz")
    assert images.shape == (3, 28, 28, 1) and labels.tolist() == [7, 8, 9]


def _single_array(path):
    np.save(path.with_suffix(".npy"), np.zeros((3, 28, 28, 1), np.uint8))
    path.with_suffix(".npy").rename(path)


@pytest.mark.parametrize("write, error, match", [
    (_single_array, ValueError, "single.npz is not a .npz file numpy can read"),
    (lambda p: np.savez(p, x=np.zeros((3, 28, 28), np.uint8), y=np.array([0.0, 1.0, 2.0])),
     TypeError, r"\['y'\] must hold integer labels, got dtype float64"),
    (lambda p: np.savez(p, x=np.zeros((3, 28, 28), np.uint8), y=np.array([0, 1, 300])),
     ValueError, r"labels in \[0, 255\], got 0 to 300"),
    (lambda p: np.savez(p, x=np.zeros((3, 28, 28), np.uint8), labels=np.array([0, -1, 2])),
     ValueError, r"\['labels'\] must hold labels in \[0, 255\], got -1"),
])
def test_load_npz_refuses_bad_labels_and_single_arrays(tmp_path, write, error, match):
    path = tmp_path / "single.npz"
    write(path)
    with pytest.raises(error, match=match):
        data.load_npz(path)


def test_as_dataset_scales_shuffles_and_batches(split):
    x, y = split["test"]
    ds = data.as_dataset(x, 64, seed=1, labels=y, scale="tanh")
    batches = list(ds)
    assert len(batches) == 16 and batches[-1][0].shape == (1000 - 15 * 64, 28, 28, 1)
    images, labels = batches[0]
    assert images.dtype.name == "float32" and labels.dtype.name == "int32"
    assert float(images.numpy().min()) == -1.0 and float(images.numpy().max()) == 1.0
    first_epoch = np.concatenate([b[1].numpy() for b in batches])
    second_epoch = np.concatenate([b[1].numpy() for b in ds])
    assert sorted(first_epoch.tolist()) == sorted(y.tolist())
    assert not np.array_equal(first_epoch, second_epoch)  # reshuffled every epoch
    again = np.concatenate([b[1].numpy() for b in data.as_dataset(x, 64, seed=1, labels=y)])
    assert np.array_equal(first_epoch, again)  # same seed, same order
    unit = next(iter(data.as_dataset(x, 8, seed=0, scale="unit"))).numpy()
    assert unit.min() >= 0 and unit.max() <= 1


@pytest.mark.parametrize("kwargs, error, match", [
    ({"images": np.zeros((4, 8, 8, 1), np.float32)}, TypeError, "uint8"),
    ({"images": np.zeros((4, 8, 8), np.uint8)}, ValueError, r"\(N, H, W, C\)"),
    ({"batch_size": 0}, ValueError, "batch_size must be an int >= 1, got 0"),
    ({"scale": "sigmoid"}, ValueError, "scale must be one of"),
    ({"labels": np.zeros(3)}, ValueError, r"labels must have shape \(4,\)"),
])
def test_as_dataset_bad_input(kwargs, error, match):
    args = {"images": np.zeros((4, 8, 8, 1), np.uint8), "batch_size": 2, **kwargs}
    with pytest.raises(error, match=match):
        data.as_dataset(args.pop("images"), args.pop("batch_size"), seed=0, **args)


def test_binarize_keeps_shape_and_dtype_and_cuts_at_half_intensity():
    x = np.array([[0, 127, 128, 255]], np.uint8).reshape(1, 2, 2, 1)
    binary = data.binarize(x)
    assert binary.shape == x.shape and binary.dtype == np.uint8
    assert binary.ravel().tolist() == [0, 0, 255, 255]  # 127/255 < 0.5 < 128/255
    assert data.binarize(x, threshold=0.9).ravel().tolist() == [0, 0, 0, 255]


@pytest.mark.parametrize("images, threshold, error, match", [
    (np.zeros((2, 28, 28), np.float32), 0.5, TypeError, "must be uint8"),
    (np.zeros((2, 28, 28), np.uint8), 1.0, ValueError, r"threshold must be in \(0, 1\)"),
    (np.zeros((2, 28, 28), np.uint8), 0.0, ValueError, r"threshold must be in \(0, 1\)"),
])
def test_binarize_bad_input(images, threshold, error, match):
    with pytest.raises(error, match=match):
        data.binarize(images, threshold)


def test_to_unit_digits_detects_the_encoding():
    u8 = np.array([0, 255], np.uint8).repeat(392).reshape(1, 28, 28)
    for encoded in (u8, u8 / 255.0, u8 / 127.5 - 1):
        x = data.to_unit_digits(encoded)
        assert x.shape == (1, 28, 28, 1) and x.min() == 0 and x.max() == 1
    with pytest.raises(ValueError, match=r"\(N, 28, 28\)"):
        data.to_unit_digits(np.zeros((2, 32, 32)))
    with pytest.raises(ValueError, match=r"lie in \[-1, 1\]"):
        data.to_unit_digits(np.full((1, 28, 28), -3.0))
    with pytest.raises(ValueError, match="NaN"):
        data.to_unit_digits(np.full((1, 28, 28), np.nan))
    with pytest.raises(TypeError, match="int64"):
        data.to_unit_digits(np.zeros((1, 28, 28), np.int64))


def test_open_npz_refuses_a_file_that_expands_beyond_the_limit(tmp_path):
    from test_metrics import write_npz_header_only

    write_npz_header_only(tmp_path / "bomb.npz", "x", (2_000_000, 28, 28))
    assert (tmp_path / "bomb.npz").stat().st_size < 5_000_000
    with pytest.raises(ValueError, match=r"holds 1,495 MiB of arrays once loaded; files above "
                                         r"1,024 MiB are refused"):
        data.load_npz(tmp_path / "bomb.npz")


def test_load_npz_names_a_truncated_file(tmp_path):
    np.savez(tmp_path / "cut.npz", x=np.zeros((50, 28, 28), np.uint8))
    (tmp_path / "cut.npz").write_bytes((tmp_path / "cut.npz").read_bytes()[:200])
    with pytest.raises(ValueError, match="cut.npz is not a .npz file numpy can read"):
        data.load_npz(tmp_path / "cut.npz")


# The table of data sources


def test_every_source_in_the_table_gives_its_splits(online):
    assert list(data.DATA_SOURCES) == ["mnist", "fashion_mnist", "emoji", "cifar10"]
    digits = data.load_source("mnist", "validation")
    assert digits.images.shape == (1000, 28, 28, 1) and digits.labels.dtype == np.int32
    assert digits.class_names == tuple("0123456789") and digits.captions is None
    every = data.load_source("mnist", "all")
    parts = [len(data.load_source("mnist", s).images) for s in ("train", "validation", "test")]
    assert len(every.images) == sum(parts)
    emoji = data.load_source("emoji", "validation", image_size=16)
    assert emoji.images.shape[1:] == (16, 16, 3) and len(emoji.captions) == len(emoji.images)
    assert emoji.class_names[1] == "People & Body"


@pytest.fixture
def cifar10_online(monkeypatch):
    """``keras.datasets.cifar10`` as it is online, at a tenth of its size: 110 training and
    20 test images per class, labels shaped ``(N, 1)`` as Keras gives them."""
    import keras

    rng = np.random.default_rng(0)

    def part(per_class):
        y = np.repeat(np.arange(10, dtype=np.uint8), per_class)[:, None]
        return rng.integers(0, 256, (len(y), 32, 32, 3), dtype=np.uint8), y

    parts = part(110), part(20)
    monkeypatch.setattr(keras.datasets.cifar10, "load_data", lambda: parts)
    return parts


def test_cifar10_flattens_its_labels_and_carves_validation(cifar10_online):
    train = data.load_source("cifar10", "train")
    val = data.load_source("cifar10", "validation")
    test = data.load_source("cifar10", "test")
    assert train.images.shape == (100, 32, 32, 3) and train.labels.shape == (100,)
    assert np.array_equal(np.bincount(val.labels), [100] * 10)
    assert np.array_equal(test.images, cifar10_online[1][0])
    assert train.class_names[3] == "cat"


def test_cifar10_offline_points_to_the_offline_colour_set(monkeypatch):
    import keras

    def no_network():
        raise Exception("URL fetch failure")

    monkeypatch.setattr(keras.datasets.cifar10, "load_data", no_network)
    with pytest.raises(RuntimeError, match="cifar10 needs a download .* the offline colour set "
                                           "is --data emoji"):
        data.load_source("cifar10", "train")


@pytest.mark.parametrize("source, split, size, message", [
    ("imagenet", "train", None, "--data must be one of mnist, fashion_mnist, emoji, cifar10 or "
                                "a folder of images, got 'imagenet'"),
    ("mnist", "compositions", None, "--split for mnist must be one of train, validation, test, "
                                    "all, got 'compositions'"),
    ("cifar10", "train", 64, "--image-size applies to emoji and image folders; cifar10 has one "
                             "size"),
    ("emoji", "train", None, "--fit applies to image folders only, not emoji"),
])
def test_check_source_names_what_does_not_fit(source, split, size, message):
    with pytest.raises(ValueError) as error:
        data.check_source(source, split, size, fit="pad" if "--fit" in message else None)
    assert message in str(error.value)


def test_read_npz_gives_a_whole_file_as_a_split(tmp_path):
    x = np.zeros((3, 16, 16, 3), np.uint8)
    np.savez(tmp_path / "a.npz", images=x, labels=[0, 2, 1], class_names=["a", "b", "c"],
             captions=["one", "two", "three"])
    split = data.read_npz(tmp_path / "a.npz")
    assert split.class_names == ("a", "b", "c") and split.captions == ("one", "two", "three")
    assert split.labels.dtype == np.int32 and split.images.shape == (3, 16, 16, 3)
    np.savez(tmp_path / "b.npz", x=x, y=[0, 4, 1])
    assert data.read_npz(tmp_path / "b.npz").class_names == ("0", "1", "2", "3", "4")
    np.savez(tmp_path / "c.npz", x=x, y=[0, 3, 1], class_names=["a", "b", "c"])
    with pytest.raises(ValueError, match="labels go up to 3 but class_names has 3 names"):
        data.read_npz(tmp_path / "c.npz")
    np.savez(tmp_path / "d.npz", labels=[1, 0])
    labels, names = data.read_npz_labels(tmp_path / "d.npz")
    assert labels.tolist() == [1, 0] and names is None
    np.savez(tmp_path / "e.npz", x=x)
    with pytest.raises(ValueError, match="has no key 'y' or 'labels'"):
        data.read_npz_labels(tmp_path / "e.npz")
    np.savez(tmp_path / "f.npz", labels=[0.5, 1.0])
    with pytest.raises(TypeError, match="must hold integer labels"):
        data.read_npz_labels(tmp_path / "f.npz")
