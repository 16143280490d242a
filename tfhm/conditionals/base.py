"""The conditional protocol: one interface for every layer of p and q.

A *conditional* is a Keras layer that maps its parent to a distribution over
a binary vector of `units` values: in the generator p the parent is the layer
above (nothing for the prior of the top layer), in the recognizer q the layer
below (the data for the first). Every module of tfhm samples and scores the
layers of a Helmholtz machine through these methods alone:

- `sample(parent, seed, sample_shape=())`: a stateless draw, float32 0/1
  `sample_shape + parent.shape[:-1] + [units]` (a prior, whose parent is
  None: `sample_shape + [units]`). The same seed gives the same draw.
- `log_prob(parent, value)`: `log p(value | parent)` in nats, summed over the
  units, float32 of the broadcast of `value.shape[:-1]` and
  `parent.shape[:-1]`.
- `sample_with_log_prob(parent, seed, sample_shape=())`: the draw and its
  `log_prob`, sharing the work where a layer can (its default calls both).
- `mean_field(parent)`: deterministic probabilities `[..., units]`: the exact
  means `p(v_j = 1 | parent)` of a factorized layer; for an autoregressive
  one, the recursion that feeds each unit the probabilities of the units
  before it instead of their values (a summary, not the marginal means).
- `compute_logits(parent)`: only where `factorized` is True, the float32 logits
  `[..., units]` of the factorized Bernoulli. Code that needs the
  factorized fast path (exact enumeration's product form, DisARM,
  inpainting's proposals) asks `require_factorized` first, which refuses
  any other layer with one line naming it.

`FactorizedConditional` writes `sample`, `log_prob` and `mean_field` once
for every layer whose logits are a function of the parent: such a layer only
defines `compute_logits(parent)` (tfhm's `DenseBernoulli`, `BernoulliPrior` and
`KerasBernoulli`).

Conditionals are built by name through `register`/`get`/`make`: `"sbn"`
(the factorized sigmoid-belief-net layer, tfhm's default), `"darn"` and
`"nade"` (autoregressive), each usable as a prior, a p-layer and a q-layer.

#### References

[1]: Bornschein, J. & Bengio, Y. Reweighted wake-sleep. ICLR (2015). (The
     layer interface of its reference implementation: a layer samples given
     its parent and scores a given value.)
[2]: Neal, R. M. Connectionist learning of belief networks. Artificial
     Intelligence 56, 71-113 (1992). (The sigmoid belief network.)
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

import keras
import tensorflow as tf

from tfhm import _checks
from tfhm._bernoulli import log_prob_logits, sample_bernoulli_logits

__all__ = ["Conditional", "FactorizedConditional", "get", "make", "names",
           "register", "require_factorized"]


class Conditional(keras.layers.Layer):
    """Base class of the conditionals: a distribution over `units` binary values.

    Subclasses set `units` and `parent_dim` (None for a prior) and define
    `sample`, `log_prob` and `mean_field`; a factorized one sets `factorized
    = True` and defines `compute_logits` (see `FactorizedConditional`).

    Args:
      units: the size of the binary vector, a positive int.
      parent_dim: the width of the parent, a positive int, or None for a
        prior (no parent).
    """

    factorized = False

    def __init__(self, units, parent_dim=None, **kwargs):
        super().__init__(**kwargs)
        self.units = _checks.positive_int("units", units)
        self.parent_dim = (None if parent_dim is None
                           else _checks.positive_int("parent_dim", parent_dim))

    @property
    def is_prior(self) -> bool:
        """True where the layer has no parent (the top layer's prior)."""
        return self.parent_dim is None

    def sample(self, parent, seed, sample_shape=()) -> tf.Tensor:
        """float32 0/1 `sample_shape + parent.shape[:-1] + [units]`."""
        raise NotImplementedError(f"{type(self).__name__} defines no `sample`.")

    def log_prob(self, parent, value) -> tf.Tensor:
        """`log p(value | parent)` in nats, summed over units, `[...]`."""
        raise NotImplementedError(f"{type(self).__name__} defines no `log_prob`.")

    def mean_field(self, parent) -> tf.Tensor:
        """Deterministic probabilities `[..., units]` (exact means if factorized)."""
        raise NotImplementedError(f"{type(self).__name__} defines no `mean_field`.")

    def sample_with_log_prob(self, parent, seed, sample_shape=()) -> tuple:
        """`(z, log_prob(parent, z))` of one draw; layers may share the work."""
        value = self.sample(parent, seed, sample_shape)
        return value, self.log_prob(parent, value)

    def compute_logits(self, parent) -> tf.Tensor:
        raise TypeError(
            f"{self.name} ({type(self).__name__}) is not a factorized Bernoulli "
            "layer and has no logits.")

    def call(self, parent):
        return self.mean_field(parent)

    def get_config(self):
        config = super().get_config()
        config.update(units=self.units, parent_dim=self.parent_dim)
        return config


class FactorizedConditional(Conditional):
    """A conditional whose units are independent given the parent.

    `p(v | parent) = prod_j Bernoulli(v_j; sigmoid(compute_logits(parent)_j))`:
    subclasses define `compute_logits(parent)` alone. The draw is
    `sample_bernoulli_logits` (exact for every logit).
    """

    factorized = True

    def compute_logits(self, parent) -> tf.Tensor:
        """float32 logits `[..., units]` of `p(v | parent)`."""
        raise NotImplementedError(f"{type(self).__name__} defines no `compute_logits`.")

    def sample(self, parent, seed, sample_shape=()) -> tf.Tensor:
        return sample_bernoulli_logits(self.compute_logits(parent), seed, sample_shape)

    def log_prob(self, parent, value) -> tf.Tensor:
        return log_prob_logits(self.compute_logits(parent), value)

    def mean_field(self, parent) -> tf.Tensor:
        return tf.sigmoid(self.compute_logits(parent))

    def sample_with_log_prob(self, parent, seed, sample_shape=()) -> tuple:
        logits = self.compute_logits(parent)  # once, for the draw and its density
        value = sample_bernoulli_logits(logits, seed, sample_shape)
        return value, log_prob_logits(logits, value)


def require_factorized(layer, what: str, instead: str = "") -> None:
    """Raises `TypeError` unless `layer` is a factorized conditional.

    Args:
      layer: a conditional.
      what: the path that needs the factorized form, e.g. "DisARM".
      instead: what works for other layers, appended to the message.
    """
    if not getattr(layer, "factorized", False):
        raise TypeError(
            f"{what} needs factorized Bernoulli layers; {layer.name} is a "
            f"{type(layer).__name__}, whose units are not independent given "
            f"its parent.{' ' + instead if instead else ''}")


# ------------------------------------------------------------------ registry
_BUILDERS: dict[str, Callable[..., Conditional]] = {}
# The built-in names and the modules whose `@register` adds them, imported by
# `get` on first use (as `tfhm.estimators.registry` names its estimators'
# modules): this registry stays below the layers that register in it.
_BUILTINS = {"sbn": "tfhm.layers", "darn": "tfhm.conditionals.darn",
             "nade": "tfhm.conditionals.nade"}


def register(name: str):
    """Decorator: registers `builder(units, parent_dim, **arch)` under `name`.

    The builder takes `units`, `parent_dim` (None for a prior) and the
    keywords `hidden_units`, `activation`, `seed`, `dtype` and `name`, and
    returns a `Conditional`. The names are what `HelmholtzMachine(...,
    generator_conditional=NAME)`, `TrainConfig` and `tfhm train
    --generator-conditional` take.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"A conditional's name must be a non-empty string. "
                         f"Received: name={name!r}")

    def decorator(builder):
        if name in _BUILDERS and _BUILDERS[name] is not builder:
            raise ValueError(f"A conditional named {name!r} is registered already.")
        _BUILDERS[name] = builder
        return builder

    return decorator


def names() -> list[str]:
    """The registered conditional names, sorted."""
    return sorted(set(_BUILDERS) | set(_BUILTINS))


def get(name: str) -> Callable[..., Conditional]:
    """The builder registered under `name`; `ValueError` naming the choices."""
    if name not in _BUILDERS and name in _BUILTINS:
        importlib.import_module(_BUILTINS[name])  # its @register adds the builder
    if name not in _BUILDERS:
        raise ValueError(f"Unknown conditional: expected one of {names()}. "
                         f"Received: {name!r}")
    return _BUILDERS[name]


def make(kind: str, units: int, parent_dim: int | None, **arch) -> Conditional:
    """Builds the conditional `kind` (a registered name) of `units` values.

    Args:
      kind: a name of `names()`, e.g. "darn".
      units: the number of binary units.
      parent_dim: the parent's width, or None for a prior.
      **arch: `hidden_units`, `activation`, `seed`, `dtype`, `name`.
    """
    layer = get(kind)(units, parent_dim, **arch)
    if not isinstance(layer, Conditional):
        raise TypeError(f"The builder of {kind!r} returned {type(layer).__name__}, "
                        "not a tfhm.conditionals.Conditional.")
    return layer

