"""Small circuits end to end on the host: NumPy forward and a written-out backward pass.

For a few qubits a whole HQNN-Parallel-style circuit (angle embedding, the dense unitary,
``<Z_j>`` from the squared amplitudes) over a batch of 256 is little arithmetic, and the ~100
PyTorch calls of the torch path (their dispatch, autograd's nodes) cost more than it: an
XLA-compiled peer (tensorcircuit-ng) was faster at 2 qubits. On CPU this module runs the
circuit as one autograd node whose forward and backward passes are NumPy:

* forward: per-wire factors ``(cos(a/2), sin(a/2))``, their product state ``ψ`` (real; the RX
  embedding's phase is folded into the unitary), ``[Re U; Im U]`` from
  :func:`~.host_unitary.stacked_forward`, amplitudes ``A = [Re U; Im U] ψ`` and
  ``out = R A^2`` (``R`` the doubled sign table);
* backward: ``dA = 2 (R^T g) A``; the unitary's gradient ``dA ψ^T`` goes to
  :func:`~.host_unitary.stacked_backward` (the weights), the state's ``[Re U; Im U]^T dA`` back
  through the product state wire by wire to the angles.

Outputs and gradients are the torch path's to rounding (tests at 1e-12 in float64). Under
``create_graph`` the backward pass differentiates the torch computation instead.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor

from hqnn_pl.quantum.engine.host_unitary import (
    HostCircuit,
    one_blas_thread,
    stacked_backward,
    stacked_forward,
)

__all__ = ["HOST_READOUT_QUBITS", "HOST_READOUT_WORK", "host_angle_readout", "use_host_readout"]

HOST_READOUT_QUBITS = range(1, 9)
"""Qubit counts that may run end to end on the host (see :func:`use_host_readout`)."""

HOST_READOUT_WORK = 2**23
"""Largest ``circuits x 4^n x batch x torch threads`` run on the host. Measured on a 2-core CPU
against the torch path, forward and backward: 0.62-0.86x its time at 4-7 qubits and batch 256
on one thread, 0.63x at 5 qubits x 4 circuits and batch 2,048; on two threads 0.82x at batch
256 but 1.2x at 2,048, where torch's kernels use both cores and NumPy's stay on one."""

TorchReadout = Callable[[Tensor, Tensor], Tensor]
"""``(chunks, weights) -> (B, C, n)`` by differentiable torch ops (for higher derivatives)."""


def use_host_readout(device: torch.device, n_qubits: int, circuits: int, batch: int) -> bool:
    """Whether :func:`host_angle_readout` runs this call.

    Args:
        device: Where the call runs.
        n_qubits: Qubits per circuit.
        circuits: Circuits run side by side.
        batch: Samples per circuit.

    Returns:
        True on the CPU outside ``torch.compile``, a qubit count in
        :data:`HOST_READOUT_QUBITS` and at most :data:`HOST_READOUT_WORK`.
    """
    work = circuits * 4**n_qubits * batch * torch.get_num_threads()
    return (
        n_qubits in HOST_READOUT_QUBITS
        and work <= HOST_READOUT_WORK
        and device.type == "cpu"
        and not torch.compiler.is_compiling()
    )


def _product_parts(factors: np.ndarray) -> list[np.ndarray]:
    """Partial product states ``f_0``, ``f_0 ⊗ f_1``, ... of ``(C, n, 2, B)`` factors."""
    parts = [factors[:, 0]]
    for j in range(1, factors.shape[1]):
        prev = parts[-1]
        parts.append((prev[:, :, None, :] * factors[:, j, None, :, :]).reshape(
            prev.shape[0], 2 * prev.shape[1], prev.shape[2]))  # fmt: skip
    return parts


def _product_backward(grad: np.ndarray, factors: np.ndarray, parts: list[np.ndarray]) -> np.ndarray:
    """The factors' gradient ``(C, n, 2, B)`` from the full state's ``(C, 2^n, B)``."""
    out = np.empty_like(factors)
    for j in range(factors.shape[1] - 1, 0, -1):
        split = grad.reshape(grad.shape[0], -1, 2, grad.shape[-1])  # (C, 2^j, 2, B)
        out[:, j] = np.einsum("cpab,cpb->cab", split, parts[j - 1])
        grad = np.einsum("cpab,cab->cpb", split, factors[:, j])
    out[:, 0] = grad
    return out


def _gemm_size(chunks: Tensor) -> int:
    """``2N x N x B``: the largest matrix product, for chunks ``(B, C, n)``."""
    return 2 * 4 ** chunks.shape[2] * chunks.shape[0]


def _forward(
    chunks: np.ndarray, weights: Tensor, circuit: HostCircuit, readout: np.ndarray, embedded: bool
) -> tuple[np.ndarray, tuple]:
    """``<Z_j>`` ``(B, C, n)`` (contiguous) of chunks ``(B, C, n)``, and what backward needs."""
    angles = chunks.transpose(1, 2, 0)  # (C, n, B): batch last, a view
    factors = np.empty((*angles.shape[:2], 2, angles.shape[2]), dtype=angles.dtype)
    cos, sin = factors[:, :, 0], factors[:, :, 1]  # views
    if embedded:
        half = 0.5 * angles
        np.cos(half, out=cos)
        np.sin(half, out=sin)
    else:  # RZ|0> is |0> up to a phase
        cos[...], sin[...] = 1.0, 0.0
    parts = _product_parts(factors)
    stacked, unitary_cache = stacked_forward(weights, circuit)
    amplitudes = stacked @ parts[-1]  # (C, 2N, B)
    out = readout @ np.square(amplitudes)  # (C, n, B)
    out = np.ascontiguousarray(out.transpose(2, 0, 1))
    return out, (cos, sin, factors, parts, stacked, amplitudes, unitary_cache)


def _run(
    chunks: Tensor, weights: Tensor, circuit: HostCircuit, readout: np.ndarray, embedded: bool
) -> tuple[np.ndarray, tuple]:
    """:func:`_forward` on the tensors' NumPy views, BLAS held to one thread where it matters."""
    with one_blas_thread(_gemm_size(chunks)):
        return _forward(chunks.detach().numpy(), weights, circuit, readout, embedded)


class _HostAngleReadout(torch.autograd.Function):
    @staticmethod
    def forward(
        ctx: torch.autograd.function.FunctionCtx,
        chunks: Tensor,
        weights: Tensor,
        setting: tuple[HostCircuit, np.ndarray, bool, TorchReadout],
    ) -> Tensor:
        circuit, readout, embedded, torch_readout = setting
        out, cache = _run(chunks, weights, circuit, readout, embedded)
        ctx.circuit, ctx.readout, ctx.embedded, ctx.cache = circuit, readout, embedded, cache
        ctx.torch_readout = torch_readout
        ctx.save_for_backward(chunks, weights)
        return torch.from_numpy(out)

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, grad: Tensor) -> tuple:
        chunks, weights = ctx.saved_tensors
        need_chunks, need_weights = ctx.needs_input_grad[:2]
        none = (None,)
        if torch.is_grad_enabled():  # create_graph: differentiate the torch computation
            wanted = [t for t, need in ((chunks, need_chunks), (weights, need_weights)) if need]
            out = ctx.torch_readout(chunks, weights)
            found = iter(
                torch.autograd.grad(
                    out, wanted, grad, create_graph=True, allow_unused=True, materialize_grads=True
                )
            )
            return (next(found) if need_chunks else None, next(found) if need_weights else None,
                    *none)  # fmt: skip
        cos, sin, factors, parts, stacked, amplitudes, unitary_cache = ctx.cache
        g = grad.detach().to(chunks.dtype).numpy().transpose(1, 2, 0)  # (C, n, B)
        grad_chunks = grad_weights = None
        with one_blas_thread(_gemm_size(chunks)):
            grad_amplitudes = (ctx.readout.T @ (2 * g)) * amplitudes  # (C, 2N, B)
            if need_weights:
                grad_stacked = grad_amplitudes @ parts[-1].swapaxes(-1, -2)  # (C, 2N, N)
                host = stacked_backward(grad_stacked, ctx.circuit, unitary_cache)
                grad_weights = torch.from_numpy(host).to(weights.dtype)
            if need_chunks:
                if ctx.embedded:
                    grad_states = stacked.swapaxes(-1, -2) @ grad_amplitudes  # (C, N, B)
                    grad_factors = _product_backward(grad_states, factors, parts)
                    host = 0.5 * (grad_factors[:, :, 1] * cos - grad_factors[:, :, 0] * sin)
                    grad_chunks = torch.from_numpy(np.ascontiguousarray(host.transpose(2, 0, 1)))
                else:
                    grad_chunks = torch.zeros_like(chunks)
        return grad_chunks, grad_weights, *none


def host_angle_readout(
    chunks: Tensor,
    weights: Tensor,
    circuit: HostCircuit,
    readout: np.ndarray,
    embedded: bool,
    torch_readout: TorchReadout,
) -> Tensor:
    """``<Z_j>`` of angle-embedded circuits, computed in NumPy (see the module docstring).

    Args:
        chunks: CPU angles ``(B, C, n)``: circuit ``c``'s wire ``j`` is embedded as
            ``cos(a/2)|0> + sin(a/2)|1>`` (RX's phase folded into ``circuit``).
        weights: CPU weights ``(C, L, n, 3)`` of the ``Rot`` layers, same dtype as ``chunks``.
        circuit: The unitary's constant parts.
        readout: ``(n, 2N)`` doubled sign table, in the chunks' dtype.
        embedded: False for an RZ embedding (state ``|0...0>``, zero gradient for the angles).
        torch_readout: The same map in torch, for higher derivatives.

    Returns:
        Tensor ``(B, C, n)`` in the chunks' dtype.
    """
    if torch.is_grad_enabled() and (chunks.requires_grad or weights.requires_grad):
        setting = (circuit, readout, embedded, torch_readout)
        return _HostAngleReadout.apply(chunks, weights, setting)
    return torch.from_numpy(_run(chunks, weights, circuit, readout, embedded)[0])
