"""The one way tfhm turns a user's seed into stateless random seeds.

Every random draw of tfhm is stateless: it takes an int32 `[2]` seed (TFP's
and TensorFlow's `stateless_*` convention) and gives the same numbers for the
same seed. The seeds come from four sources, each defined here once:

- `to_stateless(seed, seed_generator)`: the `seed=` argument of the public
  methods (`sample`, `log_likelihood`, `elbo`, `encode`, ...): None draws the
  next seed of the model's `keras.random.SeedGenerator`; an int `s` in
  [0, 2**31) (the constructor's range; others are refused, not wrapped) is
  `[s, 0]`; an integer tensor `[2]` is used as it is. So
  `hm.log_likelihood(x, seed=3)` and `tfhm evaluate --seed 3` draw the same
  numbers.
- `stream(seed, name, *indices)`: the draws tfhm makes on its own behalf
  (per-epoch validation metrics, TensorBoard and run-folder pictures), each a
  named stream so that they never share random numbers with one another or
  with training: `[seed, STREAMS[name]]`, folded with each index in turn.
- `data_order(seed, epoch)`: the int64 `[2]` seed of the stateless
  permutation of epoch `epoch`, `[seed, epoch]`; `epoch_batch` the positions
  of one batch of that epoch, the one order of the Trainer and of seeded
  `fit`.
- `initializer_seeds(seed, count)`: Python ints for weight initializers;
  `network_initializer_seeds(seed, network, count)` those of the generator's
  and the recognizer's layers.

Within one step, `split(seed, n)` gives n independent seeds (the wake and
sleep phases, the layers of an ancestral draw). Work cut into blocks takes
`block(seed, j)` for block j (the blocks of `evaluation.importance_sampled`
and of `evaluate(x, seed=...)`), or `part(seed, j, count)`, which is the seed
itself when there is a single part (chunks of draws, blocks of inpainting).
"""

from __future__ import annotations

import numbers

import numpy as np
import tensorflow as tf

__all__ = ["NETWORKS", "SEED_MAX", "STREAMS", "block", "check_int_seed", "data_order",
           "epoch_batch", "initializer_seeds", "network_initializer_seeds", "part",
           "split", "stream", "to_stateless"]

INT32_MAX = 2**31 - 1
# Int seeds are in [0, 2**31), the range `HelmholtzMachine(seed=...)` and
# `TrainConfig.seed` accept; `check_int_seed` refuses any other.
SEED_MAX = INT32_MAX

# The streams of draws tfhm makes on its own behalf. The numbers are part of
# the reproducibility contract (changing one changes the numbers a seeded run
# reports), so they are fixed here and never reused.
STREAMS = {
    "validation": 7,  # per-epoch val_* metrics of the Trainer: IS estimate
    "diagnostics": 8,  # per-epoch per-layer KL, entropy and active units
    "pictures": 11,  # samples and reconstructions (run folder, TensorBoard)
    "gradient_variance": 12,  # per-epoch gradient variance and SNR (Trainer)
}


# Offsets of each network's initializer seed from the model's seed (0.1.0's
# numbers: the recognizer's layers were seeded `seed + 1`), so that the two
# networks never start from correlated weights.
NETWORKS = {"generator": 0, "recognizer": 1}


def check_int_seed(seed, name: str = "seed") -> int:
    """Returns the int seed `seed`, or raises if it is not an int in [0, 2**31).

    A seed out of range is refused rather than wrapped: `2**32 - 1` would
    otherwise draw the numbers of `-1`, and `99999999999` those of
    `1215752191`.

    Raises:
      ValueError: a bool, a non-integer, or an int outside [0, 2**31).
    """
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise ValueError(f"`{name}` must be an int in [0, {SEED_MAX}]. "
                         f"Received: {name}={seed!r}")
    if not 0 <= seed <= SEED_MAX:
        raise ValueError(
            f"`{name}` must be an int in [0, {SEED_MAX}] (out-of-range seeds would "
            f"wrap around and repeat the draws of another seed). "
            f"Received: {name}={seed!r}")
    return int(seed)


def split(seed, num: int) -> tf.Tensor:
    """`num` independent stateless seeds, int32 `[num, 2]`, from one `[2]`."""
    return tf.random.experimental.stateless_split(seed, num)


def block(seed: tf.Tensor, index) -> tf.Tensor:
    """The int32 `[2]` seed of block `index` of work seeded `seed`.

    `stateless_fold_in(seed, index)`: block j of `evaluation.importance_sampled`
    and of `HelmholtzMachine.evaluate(x, seed=...)` (`_model_data.seeded_blocks`),
    so that the two give the same draws.

    Args:
      seed: int32 `[2]`.
      index: a Python int or an integer scalar tensor.
    """
    return tf.random.experimental.stateless_fold_in(seed, tf.cast(index, tf.int32))


def part(seed: tf.Tensor, index, count: int) -> tf.Tensor:
    """The seed of part `index` of `count`: `seed` itself if `count == 1`, else `block`.

    A single part is drawn with the caller's seed (so one chunk of draws is
    the draw of `seed`, and one block of inpainting the served signature's).
    """
    return seed if count == 1 else block(seed, index)


def stream(seed: int, name: str, *indices) -> tf.Tensor:
    """The int32 `[2]` seed of the named stream `name` of a run seeded `seed`.

    Args:
      seed: the run's int seed in [0, 2**31) (e.g. `TrainConfig.seed`,
        `--seed`).
      name: a key of `STREAMS`.
      *indices: ints or scalar int tensors folded in one after the other
        (e.g. the epoch).

    Raises:
      ValueError: an unknown stream name or a seed out of range.
    """
    if name not in STREAMS:
        raise ValueError(f"Unknown seed stream: expected one of "
                         f"{sorted(STREAMS)}. Received: {name!r}")
    result = tf.constant([check_int_seed(seed), STREAMS[name]], tf.int32)
    for index in indices:
        result = tf.random.experimental.stateless_fold_in(
            result, tf.cast(index, tf.int32))
    return result


def data_order(seed: int, epoch) -> tf.Tensor:
    """int64 `[2]` seed of the Trainer's permutation of epoch `epoch`."""
    return tf.stack([tf.constant(seed, tf.int64), tf.cast(epoch, tf.int64)])


def epoch_batch(seed: int, epoch, step, batch_size: int, num_examples: int,
                shuffle: bool = True) -> tf.Tensor:
    """The positions in the data of batch `step` of epoch `epoch`, int64 `[size]`.

    The epoch's batches are consecutive slices of `batch_size` (the last one
    may be smaller) of the stateless permutation
    `index_shuffle(i, seed=data_order(seed, epoch), max_index=num_examples - 1)`
    (or of `0 .. num_examples - 1` when `shuffle` is False): the Trainer's
    order, which seeded `fit` shares, and which a resumed epoch can enter at
    any step.

    Args:
      seed: the run's int seed (`TrainConfig.seed`, the model's seed).
      epoch, step: 0-based; ints or scalar integer tensors.
      batch_size: examples per batch.
      num_examples: examples in the data.
      shuffle: permute (else visit the examples in order).
    """
    start = tf.cast(step, tf.int64) * batch_size
    size = tf.minimum(tf.constant(batch_size, tf.int64), num_examples - start)
    positions = tf.range(start, start + size)  # [size]
    if not shuffle:
        return positions
    return tf.random.experimental.index_shuffle(
        positions, seed=data_order(seed, epoch),
        max_index=tf.constant(num_examples - 1, tf.int64))


def to_stateless(seed, seed_generator) -> tf.Tensor:
    """A user seed (None, int or int tensor `[2]`) as an int32 `[2]` seed.

    Args:
      seed: None (draw the next seed of `seed_generator`), a Python or
        NumPy int in [0, 2**31) (`[seed, 0]`), or an integer tensor/array of
        shape `[2]` whose values fit in int32 (used as it is).
      seed_generator: a `keras.random.SeedGenerator`, used when seed is None.

    Returns:
      int32 `[2]` tensor.

    Raises:
      ValueError: any other seed, an int seed out of range included (with
        what was received).
    """
    if seed is None:
        return tf.cast(seed_generator.next(), tf.int32)
    if isinstance(seed, numbers.Integral) and not isinstance(seed, bool):
        return tf.constant([check_int_seed(seed), 0], dtype=tf.int32)
    seed = tf.convert_to_tensor(seed)
    if seed.shape != (2,) or not seed.dtype.is_integer:
        raise ValueError(
            "`seed` must be None, an int, or an integer tensor of shape [2]. "
            f"Received: seed={seed!r}")
    values = seed.numpy().astype(object)  # exact, whatever the integer dtype
    if any(not -INT32_MAX - 1 <= v <= INT32_MAX for v in values):
        raise ValueError(
            "The values of a `seed` tensor must fit in int32 (they would wrap "
            f"around and collide). Received: seed={seed!r}")
    return tf.cast(seed, tf.int32)


def initializer_seeds(seed, count: int) -> list:
    """`count` distinct int seeds derived from `seed`, or Nones if unseeded.

    NumPy's `SeedSequence` spreads one seed into independent ones, so the
    layers of a model never start from correlated weights.

    Raises:
      ValueError: a seed that is not None or a non-negative int.
    """
    if seed is None:
        return [None] * count
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise ValueError(f"`seed` must be an int or None. Received: seed={seed!r}")
    if seed < 0:
        raise ValueError(
            f"`seed` must be a non-negative int or None. Received: seed={seed!r}")
    states = np.random.SeedSequence(int(seed)).generate_state(count)
    return [int(s) % INT32_MAX for s in states]


def network_initializer_seeds(seed, network: str, count: int) -> list:
    """The initializer seeds of the `count` layers of `network`.

    `initializer_seeds(seed + NETWORKS[network], count)`, or Nones if `seed`
    is None.

    Raises:
      ValueError: an unknown network or a bad seed.
    """
    if network not in NETWORKS:
        raise ValueError(f"Unknown network: expected one of {sorted(NETWORKS)}. "
                         f"Received: {network!r}")
    if seed is None:
        return [None] * count
    initializer_seeds(seed, 1)  # type check before the addition
    return initializer_seeds(seed + NETWORKS[network], count)
