"""Shared setup of the reliability suite: scale, hypothesis profiles, counters.

`TFHM_RELIABILITY_FULL=1` scales every count up to the figures of
RELIABILITY.md (`python tests/reliability/make_report.py` sets it, runs the
suite and rewrites the figures). Tests add what they tried and survived to
`record(...)`; the counts are written to the JSON file named by
`TFHM_RELIABILITY_JSON` when the session ends (nothing is written without it).
"""

import reliability_support


def pytest_sessionfinish(session, exitstatus):
    reliability_support.write_counts(exitstatus)
