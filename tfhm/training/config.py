"""`TrainConfig`: the hyper-parameters of `Trainer` (imports no TensorFlow).

Each field carries `metadata` that the command line reads to make its flags
(one source of defaults and help texts):

- `help`: the one-line help text.
- `cli`: whether `tfhm train` offers a flag for it.
- `flag`: the flag's name when it is not `--` + the field name with dashes.
- `choices`: the valid values, when they are a list of names.
- `resumable`: whether a resumed run may change it (it does not touch the
  weights); the other fields must be those of the run resumed.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from tfhm import _checks
from tfhm.estimators import registry

__all__ = ["TrainConfig"]

_SEED_MAX = 2**31 - 1


def _field(default: Any, help: str, *, cli: bool = True,  # noqa: A002  (the metadata key)
           resumable: bool = False, flag: str | None = None,
           choices: tuple[str, ...] | None = None) -> Any:
    metadata = {"help": help, "cli": cli, "resumable": resumable}
    if flag is not None:
        metadata["flag"] = flag
    if choices is not None:
        metadata["choices"] = choices
    return dataclasses.field(default=default, metadata=metadata)


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of `Trainer` (every field is checked on creation).

    The defaults of `algorithm`, `num_samples` and `recognizer_update` follow
    Bornschein & Bengio (2015): reweighted wake-sleep with K = 5 and the
    recognizer trained by both its wake and its sleep update (the run
    folder's config.json records the K used). `HelmholtzMachine.compile`
    defaults to wake-sleep instead (the classic algorithm, kept for code
    that calls `compile()`); the Trainer compiles with this config's values. `epochs`,
    `lr_wake` and `lr_sleep` are those of the main job (`tfhm train` on the
    digits: 150 epochs of Adam at 6e-3, batch 100); for binarized MNIST,
    Bornschein & Bengio (2015) use 1e-3.

    Raises:
      ValueError: an unknown algorithm or recognizer update, a recognizer
        update other than "sleep" with wake-sleep, or a field out of its
        range (naming the field and the value received).

    #### Examples

    ```python
    from tfhm.training.config import TrainConfig
    config = TrainConfig(epochs=20, lr_wake=3e-3, lr_sleep=3e-3)
    longer = config.replace(epochs=40)    # checked again
    for name, field in TrainConfig.fields().items():  # what the CLI's flags are made of
        print(f"--{name.replace('_', '-')}", field.default, field.metadata["help"])
    assert "epochs" in TrainConfig.resumable_fields()
    ```

    #### References

    [1]: Bornschein, J. & Bengio, Y. Reweighted wake-sleep. ICLR (2015).
    """

    # The gradient estimator, a name of `tfhm.estimators.names()`.
    algorithm: str = _field(
        "reweighted_wake_sleep", "gradient estimator (tfhm.estimators)",
        choices=tuple(registry.names()))
    # K draws of q per example; None: the estimator's default (5 for RWS).
    num_samples: int | None = _field(
        None, "K draws of q per example (default: the estimator's: 5 for "
        "reweighted wake-sleep, 1 for wake-sleep, 5 for vimco, 4 for "
        "reinforce_loo, 2 for disarm, 1 for nvil)")
    # "sleep", "wake", "wake_sleep"; None: the algorithm's default.
    recognizer_update: str | None = _field(
        None, "what trains the recognizer: sleep, wake or wake_sleep (default: "
        "sleep for wake-sleep, wake_sleep for reweighted wake-sleep)")
    # Reweighted wake-sleep's weight of the recognizer's wake update (Pyro's
    # insomnia); None: from recognizer_update (0.5 by default).
    insomnia: float | None = _field(
        None, "reweighted wake-sleep: weight in [0, 1] of the recognizer's wake "
        "update, the sleep update gets 1 - insomnia (Pyro's; default 0.5)")
    # Passes over the training data (the total, also when resuming). 150: the
    # digits main job's (`tfhm train`), which then beats the 48-component
    # mixture of Bernoullis in about 35 s on 2 cores.
    epochs: int = _field(150, "total epochs (also when resuming)", resumable=True)
    # Global batch size, split evenly over shards and replicas.
    batch_size: int = _field(100, "global batch size (split over shards and replicas)")
    # Learning rate of the default Adam of the generator and prior (wake
    # phase). 6e-3: the digits main job's; the binarized-MNIST literature
    # uses 1e-3 (Bornschein & Bengio 2015).
    lr_wake: float = _field(6e-3, "Adam learning rate of the generator and prior")
    # Learning rate of the default Adam of the recognizer (sleep phase); 6e-3
    # as `lr_wake` (1e-3 for binarized MNIST in Bornschein & Bengio 2015).
    lr_sleep: float = _field(6e-3, "Adam learning rate of the recognizer")
    # Seeds the data order and the evaluation draws (the model's seed seeds the rest).
    seed: int = _field(0, "seeds the data order and the per-epoch evaluation draws")
    # Visit the data in a new stateless permutation every epoch.
    shuffle: bool = _field(True, "visit the data in a new order every epoch", cli=False)
    # Compile the step with XLA (random draws then differ from non-XLA runs).
    jit_compile: bool = _field(False, "compile the training step with XLA",
                               resumable=True, flag="--xla")
    # Seed shards per batch (a multiple of the replicas); None: one per replica.
    num_shards: int | None = _field(
        None, "seed shards per batch, a multiple of the replicas (default: one per "
        "replica)", cli=False)
    # K of the per-epoch importance-sampled log-likelihood and ESS.
    eval_num_samples: int = _field(
        100, "K of the per-epoch validation log-likelihood", resumable=True,
        flag="--eval-samples")
    # Examples evaluated per epoch (the first ones); 0 turns it off.
    eval_max_examples: int = _field(
        1000, "validation examples evaluated per epoch (0: none)", cli=False,
        resumable=True)
    # K of the per-layer KL, entropy and active-unit estimates.
    diagnostics_num_samples: int = _field(
        10, "K of the per-layer KL, entropy and active-unit diagnostics", cli=False,
        resumable=True)
    # Estimates per epoch of each network's gradient for its variance and SNR; 0: off.
    gradient_variance_seeds: int = _field(
        0, "per epoch, the variance and signal-to-noise ratio of both networks' "
        "gradient estimates, from N independent estimates on one batch of the "
        "evaluation data (0: off; else N >= 2)", resumable=True,
        flag="--gradient-variance")
    # Checkpoint every N steps; None: after every epoch.
    checkpoint_every_steps: int | None = _field(
        None, "checkpoint every N steps (default: after every epoch)",
        resumable=True, flag="--checkpoint-every")
    # The NaN guard reads the device's record of non-finite steps every N steps
    # (and before every checkpoint and at every epoch's end); 1: after every
    # step, which makes the host wait for the device at each one.
    check_finite_every_steps: int = _field(
        100, "check for non-finite losses every N steps (and before every "
        "checkpoint); the first bad step is named either way", cli=False,
        resumable=True)
    # Training steps per compiled call: the host's work (the Ctrl-C check,
    # counters, progress, the NaN guard's read, checkpoints) runs between
    # calls. The steps and their bits are the same for every N; checkpoints
    # still fall on multiples of checkpoint_every_steps (a call stops there).
    # At batch 100 (SBN 200, RWS K=5, XLA) 10 gave 1.09x the examples/s of
    # one step a call on one thread and 1.17x on two (docs/performance.md).
    # 1 by default: vimco's and reinforce_loo's grouped steps differ from
    # single ones in their last bits (6e-8 to 1.2e-7 after one epoch, without
    # XLA), which would break their bitwise match with `fit`.
    steps_per_execution: int = _field(
        1, "training steps per compiled call (Ctrl-C, progress, the NaN guard and "
        "checkpoints act between calls; bitwise the same weights for wake-sleep, "
        "RWS, reinforce, nvil and disarm, last-bit differences for vimco and "
        "reinforce_loo)", resumable=True)
    # Checkpoints kept in the run folder (older ones are rotated out).
    keep_checkpoints: int = _field(3, "checkpoints kept (older ones are rotated out)",
                                   cli=False, resumable=True)

    def __post_init__(self) -> None:
        # compile's rules: unknown names, K < 1, wake updates with wake-sleep.
        registry.resolve(self.algorithm, self.num_samples, self.recognizer_update,
                         self.insomnia)
        for name in ("epochs", "batch_size", "eval_num_samples",
                     "diagnostics_num_samples", "keep_checkpoints",
                     "check_finite_every_steps", "steps_per_execution"):
            _checks.positive_int(name, getattr(self, name))
        for name in ("num_samples", "num_shards", "checkpoint_every_steps"):
            if getattr(self, name) is not None:
                _checks.positive_int(name, getattr(self, name))
        for name in ("lr_wake", "lr_sleep"):
            _checks.positive_float(name, getattr(self, name))
        _checks.int_in_range("seed", self.seed, 0, _SEED_MAX)
        _checks.int_in_range("eval_max_examples", self.eval_max_examples, 0)
        if _checks.int_in_range("gradient_variance_seeds",
                                self.gradient_variance_seeds, 0) == 1:
            raise ValueError("`gradient_variance_seeds` must be 0 (off) or at least 2 "
                             "(a variance needs two estimates). Received: "
                             "gradient_variance_seeds=1")
        for name in ("shuffle", "jit_compile"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"`{name}` must be True or False. "
                                 f"Received: {name}={getattr(self, name)!r}")

    def replace(self, **changes: Any) -> TrainConfig:
        """A copy with some fields changed (checked again)."""
        return dataclasses.replace(self, **changes)

    def as_dict(self) -> dict[str, Any]:
        """The fields as a JSON-able dict (config.json's `train`)."""
        return dataclasses.asdict(self)

    @classmethod
    def fields(cls) -> dict[str, dataclasses.Field]:
        """The dataclass fields by name (their `metadata` holds the help texts)."""
        return {field.name: field for field in dataclasses.fields(cls)}

    @classmethod
    def resumable_fields(cls) -> tuple[str, ...]:
        """The fields a resumed run may change (they do not touch the weights)."""
        return tuple(name for name, field in cls.fields().items()
                     if field.metadata["resumable"])
