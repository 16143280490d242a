"""Shared test setup: quiet TensorFlow, and the `slow` marker."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
