"""Which TF Serving releases can load the exported graphs, and keeping it so.

A SavedModel loads only in a binary whose op registry has every op of its
graphs and every attribute their nodes carry (an unknown one fails with
"NodeDef mentions attribute debug_name which is not in the op definition",
tensorflow/tfjs#8260, tensorflow/serving#1757). `op_inventory` lists the op
types and attributes of an exported SavedModel (graph and function library);
`tests/test_serving_compat.py` compares them with the list checked in at
`tests/fixtures/serving_ops_tf2.21.json`, made with TensorFlow `CHECKED_WITH_TF`.

`strip_debug_names` removes `VarHandleOp`'s `debug_name` attribute, which
TensorFlow 2.21 writes on every variable and which TensorFlow's r2.13 op
docs do not have (r2.15's do). It is safe to remove: the op registry gives
it the default `""` (ops_history_v2/VarHandleOp.pbtxt), so a new binary
reads a node without it as before, and it only names the variable in error
messages ("the user-given name, which still applies in anonymous mode"); the
TF1 loader that TF Serving uses and `tf.saved_model.load` restore the
variables from the checkpoint and the object graph, not from it. Without it
the newest op is `DisableCopyOnRead` (r2.11 op docs; in the save/restore
functions of every TF2 SavedModel), so `OLDEST_SERVING` is 2.11; see
export/README.md for the sources.

`newer_tf_warning` returns the warning `export_model` gives when it runs on a
TensorFlow newer than `CHECKED_WITH_TF`: its graphs may then use ops or
attributes that no checked serving release has.

#### Examples

```python
import tfhm
from tfhm.export import compat

hm = tfhm.HelmholtzMachine(data_dim=8, latent_dims=(2,), seed=0)
paths = tfhm.export.export_model(hm, "served")
ops = compat.op_inventory(paths["generator"])   # {"AddV2": [...attrs], ...}
assert "debug_name" not in ops["VarHandleOp"]
```
"""

from __future__ import annotations

import os
import pathlib

__all__ = ["CHECKED_WITH_TF", "NEWEST_SERVING_CHECKED", "OLDEST_SERVING",
           "STRIPPED_ATTRS", "newer_tf_warning", "op_inventory",
           "strip_debug_names"]

# The TensorFlow that made tests/fixtures/serving_ops_tf2.21.json (the op list).
CHECKED_WITH_TF = "2.21"
# The newest TF Serving release checked against: tensorflow-serving-api
# 2.21.0 on PyPI (it requires tensorflow >= 2.21); its op registry is
# TensorFlow 2.21's, the one the op list was made with.
NEWEST_SERVING_CHECKED = "2.21"
# The oldest TF Serving release whose op registry has every op and attribute
# of the op list (once `debug_name` is stripped): export/README.md.
OLDEST_SERVING = "2.11"

# Attributes removed from every node of the exported graphs: op -> names.
STRIPPED_ATTRS = {"VarHandleOp": ("debug_name",)}


def _version(text: str) -> tuple[int, int]:
    major, minor = text.split(".")[:2]
    return int(major), int("".join(c for c in minor if c.isdigit()) or 0)


def _saved_model(path):
    from tensorflow.core.protobuf import saved_model_pb2

    proto = saved_model_pb2.SavedModel()
    proto.ParseFromString((pathlib.Path(path) / "saved_model.pb").read_bytes())
    return proto


def _nodes(meta_graph):
    """Every NodeDef of a MetaGraphDef: the graph and its function library."""
    graph = meta_graph.graph_def
    yield from graph.node
    for function in graph.library.function:
        yield from function.node_def


def op_inventory(saved_model_dir: str | os.PathLike) -> dict[str, list[str]]:
    """The op types of a SavedModel and the attributes their nodes carry.

    Args:
      saved_model_dir: a SavedModel folder (with `saved_model.pb`).

    Returns:
      `{op type: sorted attribute names}` over every node of every
      MetaGraphDef, the function library included. Attributes whose name
      starts with `_` are left out: they are the runtime's annotations, which
      a binary accepts without an op definition.
    """
    inventory: dict[str, set[str]] = {}
    for meta_graph in _saved_model(saved_model_dir).meta_graphs:
        for node in _nodes(meta_graph):
            attrs = inventory.setdefault(node.op, set())
            attrs.update(name for name in node.attr if not name.startswith("_"))
    return {op: sorted(attrs) for op, attrs in sorted(inventory.items())}


def strip_debug_names(saved_model_dir: str | os.PathLike) -> int:
    """Removes the `STRIPPED_ATTRS` from a SavedModel's nodes, in place.

    Rewrites `saved_model.pb` and then the fingerprint (`fingerprint.pb`,
    whose checksum covers `saved_model.pb`); where this TensorFlow cannot
    write the fingerprint, the stale file is removed (a SavedModel without
    one, as from TensorFlow < 2.12, loads the same).

    Args:
      saved_model_dir: a SavedModel folder, not yet published.

    Returns:
      The number of attributes removed.
    """
    proto = _saved_model(saved_model_dir)
    removed = 0
    for meta_graph in proto.meta_graphs:
        for node in _nodes(meta_graph):
            for name in STRIPPED_ATTRS.get(node.op, ()):
                if name in node.attr:
                    del node.attr[name]
                    removed += 1
    folder = pathlib.Path(saved_model_dir)
    (folder / "saved_model.pb").write_bytes(proto.SerializeToString(deterministic=True))
    _rewrite_fingerprint(folder)
    return removed


def _rewrite_fingerprint(folder: pathlib.Path) -> None:
    fingerprint = folder / "fingerprint.pb"
    if not fingerprint.exists():
        return
    try:  # TensorFlow's own writer (a private module of TF >= 2.12)
        from tensorflow.python.saved_model import fingerprinting_utils

        fingerprint.unlink()
        fingerprinting_utils.write_fingerprint(str(folder))
    except (ImportError, AttributeError, RuntimeError, ValueError):
        fingerprint.unlink(missing_ok=True)


def newer_tf_warning(tf_version: str) -> str | None:
    """The warning for an export made with `tf_version`, or None.

    Args:
      tf_version: e.g. `tf.__version__`.

    Returns:
      A message when `tf_version` is newer than `CHECKED_WITH_TF` (its
      graphs may use ops or attributes that no checked TF Serving release
      has), else None.
    """
    if _version(tf_version) <= _version(CHECKED_WITH_TF):
        return None
    return (f"Exporting with TensorFlow {tf_version}, newer than "
            f"{CHECKED_WITH_TF}, the version whose ops were checked against TF "
            f"Serving {OLDEST_SERVING} .. {NEWEST_SERVING_CHECKED} "
            "(export/README.md, 'Which TF Serving'). Its graphs may use ops or "
            "attributes that these servers lack: compare "
            "tfhm.export.compat.op_inventory(path) with "
            "tests/fixtures/serving_ops_tf2.21.json, or serve the model with a "
            f"TF Serving release >= {tf_version.split('-')[0]}.")
