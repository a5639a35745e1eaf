"""Shared test set-up: quiet TensorFlow, the embedded-data switch, two-replica training."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ["TFIMAGEGEN_QUICK"] = "1"
os.environ["TFIMAGEGEN_DATA_SOURCE"] = "embedded"  # never touch the network
if "TFIMAGEGEN_CACHE" not in os.environ:  # rendered data (emoji) goes to a folder of the session's
    import tempfile

    os.environ["TFIMAGEGEN_CACHE"] = tempfile.mkdtemp(prefix="tfimagegen-cache-")


TWO_REPLICAS = """
import json, math, keras, numpy as np, tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from tfimagegen import data, gan, vae
keras.utils.set_random_seed(0)
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
x, y = data.embedded_split("test")
{build}
logs = model.fit(dataset, epochs=2, verbose=0, shuffle=False)
per_replica = [v.value.values for v in model.weights if hasattr(v.value, "values")]
print(json.dumps({{
    "replicas": strategy.num_replicas_in_sync, "mirrored": len(per_replica),
    "agree": all(np.array_equal(a.numpy(), b.numpy()) for a, b in per_replica),
    "finite": all(math.isfinite(v[-1]) for v in logs.history.values())}}))
"""


def _train_on_two_cpu_replicas(build: str) -> dict:
    """Run ``build`` (which sets ``model`` and ``dataset``) and two epochs of ``fit`` in a
    fresh process under ``MirroredStrategy`` over two logical CPUs; return its report."""
    result = subprocess.run([sys.executable, "-c", TWO_REPLICAS.format(build=build)],
                            capture_output=True, text=True, timeout=600,
                            env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture
def two_replica_training():
    """``two_replica_training(build) -> {"replicas", "mirrored", "agree", "finite"}``."""
    return _train_on_two_cpu_replicas


@pytest.fixture
def online(monkeypatch):
    """``keras.datasets.mnist`` as it is with network access: 60,000 + 10,000 digits.

    Keras checks the hash of a cached mnist.npz, so the loader is stood in for.
    The stand-in's training digits are the 4,000 embedded training digits
    repeated 15 times (60,000, balanced), its test digits the 1,000 embedded
    test digits repeated 10 times: still disjoint, so a score that used a
    training digit as reference would show it.
    """
    import keras

    from tfimagegen import data

    (x, y), (x_test, y_test) = data.embedded_split("train"), data.embedded_split("test")
    full = ((np.tile(x[..., 0], (15, 1, 1)), np.tile(y, 15)),
            (np.tile(x_test[..., 0], (10, 1, 1)), np.tile(y_test, 10)))
    monkeypatch.setattr(keras.datasets.mnist, "load_data", lambda: full)
    monkeypatch.setattr(data, "_unreachable", set())
    monkeypatch.setenv("TFIMAGEGEN_DATA_SOURCE", "auto")


@pytest.fixture(scope="session")
def quick_run(tmp_path_factory):
    """A finished conditional GAN run folder (``train gan --quick --seed 1``); do not modify it."""
    from tfimagegen.__main__ import main

    out = tmp_path_factory.mktemp("runs") / "gan"
    assert main(["train", "gan", "--out", str(out), "--quick", "--seed", "1"]) == 0
    return out
