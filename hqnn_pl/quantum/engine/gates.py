"""Single-qubit gates and product states, batched: the pieces every execution method uses."""

from __future__ import annotations

import functools

import numpy as np
import torch
from torch import Tensor

from hqnn_pl.quantum.engine.tables import _normal_tensors

__all__ = ["product_state", "rot_matrices"]


# (φ, θ, ω) -> (θ/2, (φ+ω)/2, (φ-ω)/2): the three half-angles a Rot matrix depends on.
_ROT_HALF_ANGLES = np.array([[0.0, 0.5, 0.5], [0.5, 0.0, 0.0], [0.0, 0.5, -0.5]])
# Products needed, from g = [cos(θ/2), cos(p), cos(m), sin(θ/2), sin(p), sin(m)]:
# (c cos p, s cos m, c sin p, s sin m).
_ROT_LEFT = (0, 3, 0, 3)
_ROT_RIGHT = (1, 2, 4, 5)
# Entries (row-major, each as (re, im)) as signed picks from those four products:
# [[c e^{-ip}, -s e^{im}], [s e^{-im}, c e^{ip}]] with p = (φ+ω)/2, m = (φ-ω)/2.
_ROT_PICK = (0, 2, 1, 3, 1, 3, 0, 2)
_ROT_SIGN = (1.0, -1.0, -1.0, -1.0, 1.0, -1.0, 1.0, 1.0)


@functools.lru_cache(maxsize=16)
def _rot_constants(
    device: torch.device, dtype: torch.dtype
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    with _normal_tensors():
        return (
            torch.as_tensor(_ROT_HALF_ANGLES, dtype=dtype, device=device),
            torch.as_tensor(_ROT_LEFT, device=device),
            torch.as_tensor(_ROT_RIGHT, device=device),
            torch.as_tensor(_ROT_PICK, device=device),
            torch.as_tensor(_ROT_SIGN, dtype=dtype, device=device),
        )


def rot_matrices(angles: Tensor, complex_dtype: torch.dtype) -> Tensor:
    """Matrices of ``qml.Rot(φ, θ, ω) = RZ(ω) RY(θ) RZ(φ)``, batched.

    ``[[c e^{-i(φ+ω)/2}, -s e^{i(φ-ω)/2}], [s e^{-i(φ-ω)/2}, c e^{i(φ+ω)/2}]]`` with
    ``c = cos(θ/2)``, ``s = sin(θ/2)``, computed with a handful of vectorised ops (one cos and one
    sin for all angles).

    Args:
        angles: Real tensor of shape ``(..., 3)`` holding ``(φ, θ, ω)``.
        complex_dtype: complex64 or complex128 (must pair with ``angles``' real dtype).

    Returns:
        Complex tensor of shape ``(..., 2, 2)``.
    """
    to_half, left, right, pick, sign = _rot_constants(angles.device, angles.dtype)
    half = angles @ to_half
    trig = torch.cat([torch.cos(half), torch.sin(half)], dim=-1)
    products = trig.index_select(-1, left) * trig.index_select(-1, right)
    entries = products.index_select(-1, pick) * sign  # (..., 8): (re, im) of 4 entries
    matrices = torch.view_as_complex(entries.unflatten(-1, (2, 2, 2)).contiguous())
    return matrices.to(complex_dtype)


def product_state(factors: Tensor) -> Tensor:
    """Real product states ``⊗_j (a_j |0> + b_j |1>)``, batch dimension last.

    The batch is the last (contiguous) dimension throughout the engine: every elementwise op
    then runs over long contiguous rows, and the reductions in the backward pass are over outer
    dimensions, which is several times faster on CPU than a batch-first layout.

    Args:
        factors: Tensor of shape ``(..., n, 2, P)``; ``factors[..., j, :, p]`` is
            ``(a_j, b_j)`` of sample ``p``.

    Returns:
        Tensor of shape ``(..., 2^n, P)`` in PennyLane's basis order (wire 0 most significant).
    """
    first, *rest = factors.unbind(-3)  # one autograd node for all wires
    state = first
    for factor in rest:
        state = (state.unsqueeze(-2) * factor.unsqueeze(-3)).flatten(-3, -2)
    return state
