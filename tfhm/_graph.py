"""`function`: tfhm's `tf.function`, traced without AutoGraph.

tfhm's graph code writes its loops and branches as graph ops itself
(`tf.while_loop`, `tf.cond`, Python loops over layers that unroll), so
AutoGraph, which rewrites every Python function a trace calls, only costs
time: it was most of the tracing time of a small `Trainer` run (34.6 s with
it, 14.5 s without, one thread; `tests/test_training.py::
test_trainer_resumes_a_grouped_run_bitwise`). Without AutoGraph a Python `if`,
`for` or `while` on a tensor raises `OperatorNotAllowedInGraphError` at trace
time instead of being converted, so nothing changes silently.

`not_converted` marks a method that Keras' own (AutoGraph) `tf.function`
calls, e.g. `train_step`, to be traced as written, for the same reason.
"""

from __future__ import annotations

import tensorflow as tf

__all__ = ["function", "not_converted"]


def function(fn=None, **kwargs):
    """`tf.function(fn, autograph=False, **kwargs)`; usable as a decorator too.

    Args:
      fn: the Python function to trace, or None to return a decorator.
      **kwargs: other arguments of `tf.function` (`reduce_retracing`,
        `jit_compile`, `input_signature`).

    Returns:
      The `tf.function` (or, with `fn` None, a decorator making one).
    """
    if fn is None:
        return lambda f: tf.function(f, autograph=False, **kwargs)
    return tf.function(fn, autograph=False, **kwargs)


not_converted = tf.autograph.experimental.do_not_convert
