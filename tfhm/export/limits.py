"""The request limits of an export, sized from a response budget.

A served request is refused (`INVALID_ARGUMENT`) when it asks for more than
the limits fixed in the graph at export:

- `max_num_samples`: `sample`'s `num_samples`; `log_likelihood`'s
  `num_samples * batch`; `inpaint`'s `num_samples * batch` and
  `num_proposals * batch`.
- `max_rows`: the batch of `decode`, `encode`, `encode_unseeded` and `inpaint`.

By default both are the largest counts whose gRPC response (or request) fits
`RESPONSE_BUDGET_BYTES` = 4 MiB, the largest message a gRPC client accepts
unless configured otherwise (`grpc.max_receive_message_length`; TF Serving's
Python clients hit it, tensorflow/serving#1382). A float32 or int32 value
costs 4 bytes in a `TensorProto` (packed `tensor_content` or `float_val`);
`FRAMING_BYTES` covers the names, shapes and headers of a message.

#### Examples

```python
from tfhm.export import limits

sizes = limits.message_bytes(784, (200, 200, 200))
sizes["sample"]                               # 8672 bytes per sample
limits.default_limits(784, (200, 200, 200))   # {"max_num_samples": 481, "max_rows": 666}
```
"""

from __future__ import annotations

from collections.abc import Sequence

from tfhm.export import RESPONSE_BUDGET_BYTES

__all__ = ["FRAMING_BYTES", "default_limits", "message_bytes"]

# Room left in the budget for what is not tensor data: the output names,
# dtypes and shapes, the model spec and protobuf headers (under 1 KiB for
# every signature here; 16 KiB is a wide margin).
FRAMING_BYTES = 16 * 1024

_VALUE = 4  # bytes of one float32 or int32 value in a TensorProto


def message_bytes(data_dim: int, latent_dims: Sequence[int]) -> dict[str, int]:
    """Bytes of tensor data per sample or per row of each signature's messages.

    Args:
      data_dim: D, pixels per example.
      latent_dims: `d_1 .. d_L`, bottom to top.

    Returns:
      A dict of byte counts (4 bytes per float32/int32 value):
      `sample`: one sample's outputs `x`, `x_probs` `[D]` and `z1 .. zL`;
      `decode_row`: one row's larger message, its latents in or its
      `x_probs`, `z1_probs .. z(L-1)_probs` out; `encode_row`: one row's
      larger message, `x` in or means, sample and row seed out (the
      unseeded encoder's `seed` `[2]`); `inpaint_row`: one row's request
      (`x` and `mask`); `completion`: one `inpaint` completion `[D]`.
    """
    total = sum(int(d) for d in latent_dims)
    data_dim = int(data_dim)
    decode_out = data_dim + total - int(latent_dims[-1])
    return {
        "sample": _VALUE * (2 * data_dim + total),
        "decode_row": _VALUE * max(total, decode_out),
        "encode_row": _VALUE * max(data_dim, 2 * total + 2),
        "inpaint_row": _VALUE * 2 * data_dim,
        "completion": _VALUE * data_dim,
    }


def default_limits(data_dim: int, latent_dims: Sequence[int],
                   budget_bytes: int = RESPONSE_BUDGET_BYTES) -> dict[str, int]:
    """`max_num_samples` and `max_rows` whose messages fit `budget_bytes`.

    Args:
      data_dim: D, pixels per example.
      latent_dims: `d_1 .. d_L`, bottom to top.
      budget_bytes: the largest message (default 4 MiB, gRPC's default).

    Returns:
      `{"max_num_samples": n, "max_rows": r}`: n samples of `sample` (whose
      samples are the largest per item: `inpaint` completions are smaller)
      and r rows of `decode`, `encode` or `inpaint` fit in
      `budget_bytes - FRAMING_BYTES`; each at least 1.
    """
    sizes = message_bytes(data_dim, latent_dims)
    room = int(budget_bytes) - FRAMING_BYTES
    row = max(sizes["decode_row"], sizes["encode_row"], sizes["inpaint_row"])
    return {"max_num_samples": max(1, room // sizes["sample"]),
            "max_rows": max(1, room // row)}
