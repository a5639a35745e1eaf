"""Shared test set-up: quiet TensorFlow, and the embedded-data switch."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ["TFIMAGEGEN_QUICK"] = "1"
os.environ["TFIMAGEGEN_DATA_SOURCE"] = "embedded"  # never touch the network
