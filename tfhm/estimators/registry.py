"""The registry of estimators by name (imports no TensorFlow).

Each estimator has a `Spec`: its name, where its class lives, the objective
it is unbiased for, its K rules and the options its constructor takes. The
specs of tfhm's own estimators are listed here (and only here: `register`
copies them onto the classes), so that `names()`,
`spec(name)` and `resolve(...)` answer without TensorFlow (the command line's
`--algorithm` choices and `TrainConfig`'s checks); `get(name)` imports the
estimator's module (and TensorFlow) on first use. `register` adds a user's
`Estimator` subclass under its `name`.

#### Examples

```python
from tfhm.estimators import registry
assert "vimco" in registry.names()
name, k, options = registry.resolve("reweighted_wake_sleep", insomnia=0.25)
assert (name, k, options) == ("reweighted_wake_sleep", 5, {"insomnia": 0.25})
```
"""

from __future__ import annotations

import dataclasses
import importlib

from tfhm import _checks
from tfhm.algorithms import RecognizerUpdate

__all__ = ["FACTS", "OBJECTIVES", "Spec", "get", "names", "register", "resolve", "spec"]

# What a spec's `objective` may say.
OBJECTIVES = {
    "elbo": "E_q[log p(x, z) - log q(z | x)] (Hinton et al. 1995)",
    "bound": "the K-sample bound E[log (1/K) sum_k w_k] (Burda et al. 2016)",
    "none": "no objective: a biased update (wake-sleep, reweighted wake-sleep)",
}

# The recognizer updates of `tfhm.RecognizerUpdate` as Pyro's insomnia (the
# weight of the recognizer's wake update).
INSOMNIA = {RecognizerUpdate.WAKE: 1.0, RecognizerUpdate.WAKE_SLEEP: 0.5,
            RecognizerUpdate.SLEEP: 0.0}


@dataclasses.dataclass(frozen=True)
class Spec:
    """What the registry knows of an estimator without importing it."""

    # The registered name, e.g. "vimco" (`compile(algorithm=...)`).
    name: str
    # "module:Class" of the estimator, imported by `get`.
    path: str
    # A key of OBJECTIVES: what the estimator is unbiased for ("none": biased).
    objective: str
    # K when the user gives none (the paper's).
    default_num_samples: int
    # The smallest valid K.
    min_num_samples: int = 1
    # Whether K must be even (antithetic pairs).
    even_num_samples: bool = False
    # Keyword options of the estimator's constructor.
    options: tuple[str, ...] = ()

    def check_num_samples(self, num_samples: object) -> int:
        """K as an int (the default for None).

        Raises:
          ValueError: not a positive int, below `min_num_samples`, or odd
            when pairs are needed.
        """
        if num_samples is None:
            return self.default_num_samples
        k = _checks.positive_int("num_samples", num_samples)
        if k < self.min_num_samples or (self.even_num_samples and k % 2):
            need = f">= {self.min_num_samples}" + (
                " and even" if self.even_num_samples else "")
            raise ValueError(
                f"Estimator {self.name!r} needs num_samples {need}. "
                f"Received: num_samples={num_samples!r}")
        return k


_BUILTIN = [
    # Hinton et al. (1995): K = 1, the classic algorithm.
    Spec("wake_sleep", "tfhm.estimators.wake_sleep:WakeSleep", "none", 1),
    # Bornschein & Bengio (2015): K = 5 a good trade-off.
    Spec("reweighted_wake_sleep",
         "tfhm.estimators.reweighted_wake_sleep:ReweightedWakeSleep", "none", 5,
         options=("insomnia",)),
    # Mnih & Rezende (2016) report K = 2 .. 50.
    Spec("vimco", "tfhm.estimators.vimco:VIMCO", "bound", 5, min_num_samples=2),
    # The reference without a control variate (K = 1: the ELBO).
    Spec("reinforce", "tfhm.estimators.reinforce:Reinforce", "bound", 1),
    # Mnih & Gregor (2014): a single-sample estimator.
    Spec("nvil", "tfhm.estimators.nvil:NVIL", "elbo", 1,
         options=("hidden_units", "decay")),
    # Kool et al. (2019): "Buy 4 REINFORCE samples".
    Spec("reinforce_loo", "tfhm.estimators.reinforce_loo:ReinforceLOO", "elbo", 4,
         min_num_samples=2),
    # Dong et al. (2020): one antithetic pair.
    Spec("disarm", "tfhm.estimators.disarm:DisARM", "elbo", 2, min_num_samples=2,
         even_num_samples=True),
]
_SPECS: dict[str, Spec] = {s.name: s for s in _BUILTIN}
_CLASSES: dict[str, type] = {}


def names() -> list[str]:
    """The registered estimator names: tfhm's in the order above, then others."""
    return list(_SPECS)


def _unknown(name: object) -> ValueError:
    return ValueError(f"Unknown estimator: expected one of "
                      f"{', '.join(repr(n) for n in names())}. Received: {name!r}")


def spec(name: object) -> Spec:
    """The `Spec` registered as `name` (no TensorFlow needed).

    Raises:
      ValueError: an unknown name; the message lists the valid ones.
    """
    if isinstance(name, str) and name in _SPECS:
        return _SPECS[name]
    raise _unknown(name)


def get(name: object) -> type:
    """The estimator class registered as `name` (imports its module).

    Raises:
      ValueError: an unknown name; the message lists the valid ones.
    """
    found = spec(name)
    if found.name not in _CLASSES:
        module, _ = found.path.split(":")
        importlib.import_module(module)  # its @register adds the class
    return _CLASSES[found.name]


# The facts of a `Spec` that an estimator class carries as class attributes.
FACTS = ("objective", "default_num_samples", "min_num_samples", "even_num_samples",
         "options")


def register(cls: type) -> type:
    """Class decorator: adds an `Estimator` subclass under `cls.name`.

    A class of tfhm's own (the `path` of a listed `Spec`) sets only its
    `name`: `register` copies the other facts (`FACTS`) from the listed spec
    onto the class, so that each is written once, in `_BUILTIN`. Another
    class gets a spec made of its class attributes (`objective`,
    `default_num_samples`, `min_num_samples`, `even_num_samples`, `options`).

    Raises:
      ValueError: no name, a name taken by another class, an objective not in
        `OBJECTIVES`, a class of tfhm's own that sets a fact of its spec, or
        another class that disagrees with the spec listed under its name.
    """
    name = getattr(cls, "name", "")
    if not name or not isinstance(name, str):
        raise ValueError(f"An estimator needs a `name`. Received: {cls!r}")
    if _CLASSES.get(name) is cls:
        return cls
    if name in _CLASSES:
        raise ValueError(f"An estimator named {name!r} is already registered: "
                         f"{_CLASSES[name]!r}")
    path = f"{cls.__module__}:{cls.__qualname__}"
    listed = _SPECS.get(name)
    if listed is not None and listed.path == path:
        written = [fact for fact in FACTS if fact in vars(cls)]
        if written:
            raise ValueError(
                f"Estimator {name!r} is listed in the registry, which holds its "
                f"{', '.join(written)}: leave them out of the class. Received: "
                f"{', '.join(f'{fact}={vars(cls)[fact]!r}' for fact in written)}")
        for fact in FACTS:
            setattr(cls, fact, getattr(listed, fact))
        made = listed
    else:
        made = Spec(name, path, cls.objective, cls.default_num_samples,
                    cls.min_num_samples, cls.even_num_samples,
                    tuple(getattr(cls, "options", ())))
        if made.objective not in OBJECTIVES:
            raise ValueError(f"Unknown objective of {name!r}: expected one of "
                             f"{sorted(OBJECTIVES)}. Received: {made.objective!r}")
        if listed is not None and listed != made:
            raise ValueError(f"Estimator {name!r} disagrees with its registered "
                             f"spec: {listed} != {made}")
    _SPECS[name] = made
    _CLASSES[name] = cls
    return cls


def resolve(algorithm: object = "wake_sleep", num_samples: object = None,
            recognizer_update: object = None, insomnia: object = None
            ) -> tuple[str, int, dict]:
    """Parses a choice of estimator, K and options (no TensorFlow needed).

    `recognizer_update` is the readable alias of reweighted wake-sleep's
    `insomnia` ("wake" = 1, "wake_sleep" = 0.5, "sleep" = 0); wake-sleep
    accepts only "sleep" (its recognizer learns from dreams alone).

    Args:
      algorithm: a registered name or a `tfhm.Algorithm`.
      num_samples: K, or None for the estimator's default.
      recognizer_update: None, or a `tfhm.RecognizerUpdate` or its value.
      insomnia: None, or a float in [0, 1] (reweighted wake-sleep only).

    Returns:
      `(name, num_samples, options)`: options the keyword arguments of the
      estimator's constructor.

    Raises:
      ValueError: an unknown name, a bad K, insomnia or recognizer update,
        either of them with an estimator that has no such option, or both
        given and disagreeing.
    """
    found = spec(getattr(algorithm, "value", algorithm))
    k = found.check_num_samples(num_samples)
    options = {}
    if recognizer_update is not None:
        update = RecognizerUpdate.parse(recognizer_update)
        if found.name == "wake_sleep" and update != RecognizerUpdate.SLEEP:
            raise ValueError(
                "algorithm='wake_sleep' trains the recognizer on dreams only: "
                "recognizer_update must be 'sleep' (use "
                "algorithm='reweighted_wake_sleep' for wake updates of q). "
                f"Received: recognizer_update={update.value!r}")
        if "insomnia" in found.options:
            options["insomnia"] = INSOMNIA[update]
        elif found.name != "wake_sleep":
            raise ValueError(f"algorithm={found.name!r} has no recognizer update "
                             f"to choose. Received: recognizer_update={update.value!r}")
    if insomnia is not None:
        if "insomnia" not in found.options:
            raise ValueError(f"`insomnia` applies to reweighted_wake_sleep only, not "
                             f"algorithm={found.name!r}. Received: insomnia={insomnia!r}")
        value = unit_interval("insomnia", insomnia)
        if options.get("insomnia", value) != value:
            raise ValueError(
                f"recognizer_update={RecognizerUpdate.parse(recognizer_update).value!r} "
                f"means insomnia={options['insomnia']}. Received: insomnia={insomnia!r}")
        options["insomnia"] = value
    return found.name, k, options


def unit_interval(name: str, value: object) -> float:
    """`value` as a float in [0, 1], or a ValueError naming it."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
            0.0 <= float(value) <= 1.0):  # NaN fails the comparison too
        raise ValueError(f"`{name}` must be a float in [0, 1]. "
                         f"Received: {name}={value!r}")
    return float(value)
