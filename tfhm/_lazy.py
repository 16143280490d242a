"""Lazy attributes of a package (PEP 562): the one `__getattr__` of tfhm.

A package names, for each public attribute, the module that defines it; the
module is imported the first time the attribute is read, and the value is
then kept in the package's namespace so later reads skip `__getattr__`.
This is how `import tfhm` (and `tfhm.training`, `tfhm.export`,
`tfhm.estimators`) stays free of TensorFlow until a model is used.

Imports no TensorFlow.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping
from typing import Any

__all__ = ["attach", "removed"]


def attach(package: str, namespace: dict[str, Any], attributes: Mapping[str, str],
           submodules: Iterable[str] = (), listed: Iterable[str] = ()
           ) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The `(__getattr__, __dir__)` pair of a lazy package.

    Args:
      package: the package's `__name__`.
      namespace: its `globals()`, where loaded values are kept.
      attributes: public name -> the module (full dotted name) defining it.
      submodules: names of subpackages/modules imported as `package.name`.
      listed: further names `dir()` shows (e.g. `__all__`).

    Returns:
      `(__getattr__, __dir__)`, to assign at the package's top level.
    """
    submodules = frozenset(submodules)
    shown = set(attributes) | submodules | set(listed)

    def __getattr__(name: str) -> Any:  # noqa: N807 - PEP 562's name
        if name in attributes:
            value = getattr(importlib.import_module(attributes[name]), name)
        elif name in submodules:
            value = importlib.import_module(f"{package}.{name}")
        else:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        namespace[name] = value  # later reads skip __getattr__
        return value

    def __dir__() -> list[str]:  # noqa: N807 - PEP 562's name
        return sorted(set(namespace) | shown)

    return __getattr__, __dir__


def removed(module: str, names: Mapping[str, str]) -> Callable[[str], Any]:
    """The `__getattr__` of a module some of whose names were removed (NumPy's way).

    Args:
      module: the module's `__name__`.
      names: removed name -> the message saying what replaces it.

    Returns:
      `__getattr__(name)`, raising `AttributeError` with the name's message,
      or Python's own message for a name that never existed.
    """
    def __getattr__(name: str) -> Any:
        if name in names:
            raise AttributeError(names[name])
        raise AttributeError(f"module {module!r} has no attribute {name!r}")

    return __getattr__
