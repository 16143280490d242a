"""Scale, hypothesis profiles and counters of the reliability suite (see conftest.py)."""

import collections
import json
import os

from hypothesis import HealthCheck, settings

FULL = os.environ.get("TFHM_RELIABILITY_FULL") == "1"

settings.register_profile(
    "reliability-ci", max_examples=40, deadline=None, derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                           HealthCheck.function_scoped_fixture])
settings.register_profile(
    "reliability-full", max_examples=200, deadline=None, derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                           HealthCheck.function_scoped_fixture])
PROFILE = "reliability-full" if FULL else "reliability-ci"


def scaled(ci, full):
    """`full` under TFHM_RELIABILITY_FULL=1, else `ci`."""
    return full if FULL else ci


_COUNTS = collections.defaultdict(lambda: collections.Counter())


def record(section, **counts):
    """Adds `counts` (name -> int) to `section` of the report."""
    _COUNTS[section].update(counts)


def peak(section, name, value):
    """Keeps the largest `value` seen for `section[name]`."""
    _COUNTS[section][name] = max(_COUNTS[section][name], value)


def write_counts(exitstatus):
    """Writes the counts to TFHM_RELIABILITY_JSON (if set)."""
    path = os.environ.get("TFHM_RELIABILITY_JSON")
    if not path or not _COUNTS:
        return
    data = {"full": FULL, "exitstatus": int(exitstatus),
            "sections": {k: dict(v) for k, v in _COUNTS.items()}}
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=2, sort_keys=True)
