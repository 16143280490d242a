"""The choices of training algorithm, as enums (no TensorFlow import).

`TrainConfig`, the command line and `HelmholtzMachine.compile` parse the
user's strings with `Algorithm.parse` and `RecognizerUpdate.parse`; this module
imports nothing heavy so that configuration and `--help` stay fast. (Its
`resolve` is gone: `tfhm.estimators.registry.resolve` parses the choices of
every estimator.)

#### Examples

```python
from tfhm.algorithms import Algorithm, RecognizerUpdate
Algorithm.parse("reweighted_wake_sleep")  # Algorithm.REWEIGHTED_WAKE_SLEEP
RecognizerUpdate.parse(RecognizerUpdate.WAKE)  # members pass through
```

#### References

[1]: Hinton, G. E., Dayan, P., Frey, B. J. & Neal, R. M. The "wake-sleep"
     algorithm for unsupervised neural networks. Science 268, 1158-1161 (1995).
[2]: Bornschein, J. & Bengio, Y. Reweighted wake-sleep. ICLR (2015).
     arXiv:1406.2751.
"""

from __future__ import annotations

import enum

from tfhm import _lazy

__all__ = ["Algorithm", "RecognizerUpdate"]


class _ParsableEnum(enum.Enum):
    """An enum that parses its string values with a helpful error."""

    @classmethod
    def parse(cls, value: object) -> _ParsableEnum:
        """Returns the member for `value` (a member or its string value).

        Raises:
          ValueError: `value` names no member; the message lists the valid
            values.
        """
        if isinstance(value, cls):
            return value
        for member in cls:
            if value == member.value:
                return member
        valid = ", ".join(repr(m.value) for m in cls)
        raise ValueError(
            f"Unknown {cls.__name__.lower()}: expected one of {valid}. "
            f"Received: {value!r}")


class Algorithm(_ParsableEnum):
    """Training algorithms of `HelmholtzMachine`.

    WAKE_SLEEP: Hinton et al. (1995); the generator's update averages over K
      draws of q (K = 1 is the classic algorithm), the recognizer learns from
      dreams.
    REWEIGHTED_WAKE_SLEEP: Bornschein & Bengio (2015); K draws of q, self-
      normalized importance weights per example for the generator and the
      recognizer's wake update, optionally mixed with the sleep update.
    VIMCO, REINFORCE, NVIL, REINFORCE_LOO, DISARM: the unbiased gradient
      estimators of `tfhm.estimators` (Mnih & Rezende 2016; Williams 1992;
      Mnih & Gregor 2014; Kool et al. 2019; Dong et al. 2020).

    Each member's value is the name of its estimator in
    `tfhm.estimators.names()`, where its K rules and options live.
    """

    WAKE_SLEEP = "wake_sleep"
    REWEIGHTED_WAKE_SLEEP = "reweighted_wake_sleep"
    VIMCO = "vimco"
    REINFORCE = "reinforce"
    NVIL = "nvil"
    REINFORCE_LOO = "reinforce_loo"
    DISARM = "disarm"


class RecognizerUpdate(_ParsableEnum):
    """Which signal trains the recognizer q(z | x).

    SLEEP: dreams from the generator (wake-sleep's sleep phase).
    WAKE: importance-weighted samples of q on real data (RWS's q-wake).
    WAKE_SLEEP: the average of both, the best setting in Bornschein &
      Bengio (2015), Section 4.
    """

    SLEEP = "sleep"
    WAKE = "wake"
    WAKE_SLEEP = "wake_sleep"


# Names this module no longer has, and what replaces them.
_REMOVED = {
    "resolve": (
        "tfhm.algorithms.resolve was removed (it parsed wake-sleep's choices "
        "only, a second copy of the registry's rules): use "
        "tfhm.estimators.registry.resolve(algorithm, num_samples, "
        "recognizer_update), which returns (name, num_samples, options) for "
        "every estimator, or tfhm.estimators.step.make(...) for the estimator "
        "itself."),
}

__getattr__ = _lazy.removed(__name__, _REMOVED)
