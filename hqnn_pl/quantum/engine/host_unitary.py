"""The dense method's ``[Re U; Im U]`` built on the host in NumPy, with a written-out backward pass.

For the few qubits the dense method is chosen for, building the circuits' unitaries from the
weights is tiny arithmetic (HQNN-Parallel: 4 circuits of 32x32, about 0.2 MFLOP) spread over
some sixty small tensor operations, and PyTorch's per-call dispatch and autograd bookkeeping set
its time: about 1.1 ms of the layer's 2.5-3 ms forward and backward on one CPU thread, 0.8 ms
of it in autograd's backward through the complex Kronecker products. For CPU weights this module
does the same computation in NumPy, whose calls cost a fraction of PyTorch's, in the weights'
precision (complex64 for float32), and writes the backward pass out:

* ``Rot(φ, θ, ω) = [[c e^{-ip}, -s e^{im}], [s e^{-im}, c e^{ip}]]`` with ``c, s = cos, sin(θ/2)``,
  ``p = (φ + ω)/2``, ``m = (φ - ω)/2``; the embedding's phase scales columns;
* every layer is the Kronecker product ``K_l`` of its gates, rows permuted by the CNOTs
  (``A_l = P_l K_l``), and ``U = B A_{L-1} ... A_0`` with the measurement's basis change ``B``;
* backward: the layers' gradients from the saved partial products (``G_{A_l} = E_l (A_{l-1}
  ... A_0)^†`` with ``E_{l-1} = A_l^† E_l``), un-permuted rows, then each gate's gradient by
  contracting the Kronecker product's gradient with the other gates wire by wire, and the chain
  rule through ``c, s, p, m`` to the angles.

NumPy's BLAS runs on one thread around products big enough to thread (``threadpoolctl``): the
matrices are small, and a multi-threaded OpenBLAS next to torch's own thread pool made the build
up to 5x slower on two cores.

Gradients follow PyTorch's convention for complex intermediates (``∂L/∂Re + i ∂L/∂Im``). Under
``create_graph`` (higher derivatives) the backward pass differentiates the torch build instead,
and inside ``torch.compile`` or for GPU tensors the caller uses the torch build directly.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
from collections.abc import Callable, Iterator

import numpy as np
import torch
from threadpoolctl import ThreadpoolController
from torch import Tensor

__all__ = [
    "HOST_QUBITS",
    "HostCircuit",
    "host_stacked_unitary",
    "one_blas_thread",
    "stacked_backward",
    "stacked_forward",
    "use_host",
]

HOST_QUBITS = range(4, 9)
"""Qubit counts built on the host (measured on a 2-core CPU, 1 thread, batch 256, against the
torch build: 13% faster at 4 qubits, 20% at HQNN-Parallel's 4 x 5, 22% at 6, 1.8x at 8; from 9
the matmuls dominate and the gate-wise method is chosen anyway). Calls small enough run the
whole circuit on the host instead (:mod:`~.host_readout`), which uses this build."""

# (φ, θ, ω) -> (θ/2, (φ+ω)/2, (φ-ω)/2).
_TO_HALF = np.array([[0.0, 0.5, 0.5], [0.5, 0.0, 0.0], [0.0, 0.5, -0.5]])

TorchBuild = Callable[[Tensor], Tensor]
"""Weights ``(C, *W)`` -> ``[Re U; Im U]`` ``(C, 2N, N)`` by differentiable torch ops."""


@dataclasses.dataclass(frozen=True, eq=False)
class HostCircuit:
    """The constant parts of a layered circuit of ``Rot`` gates, as NumPy arrays.

    Args:
        perms: ``(L, N)`` row-gather indices of every layer's CNOT block, or None.
        phase: ``(L, 1, 1, 2)`` column scales of every layer's gates (the RX embedding's phase
            folded into the first layer), or None.
        basis: ``(N, N)`` basis change applied after the layers (X/Y measurement), or None.
    """

    perms: np.ndarray | None
    phase: np.ndarray | None
    basis: np.ndarray | None

    def __post_init__(self) -> None:
        inverse = None if self.perms is None else np.argsort(self.perms, axis=-1)
        object.__setattr__(self, "inverse_perms", inverse)
        layers = 0 if self.perms is None else len(self.perms)
        object.__setattr__(self, "layer_index", np.arange(layers)[:, None])
        object.__setattr__(self, "_by_dtype", {})

    def constants(self, real: np.dtype) -> dict[str, np.ndarray | None]:
        """The angle map, phase and basis change in the precision of ``real`` (cached)."""
        real = np.dtype(real)
        found = self._by_dtype.get(real)
        if found is None:
            cplx = np.result_type(real, np.complex64)
            basis = None if self.basis is None else self.basis.astype(cplx)
            found = {
                "to_half": _TO_HALF.astype(real),
                "phase": None if self.phase is None else self.phase.astype(cplx),
                "basis": basis,
                "basis_adjoint": None if basis is None else basis.conj().T.copy(),
            }
            self._by_dtype[real] = found
        return found


@functools.cache
def _blas_libraries() -> tuple:
    """The BLAS libraries loaded (NumPy's among them), found once (``threadpoolctl``)."""
    return tuple(lib for lib in ThreadpoolController().lib_controllers if lib.user_api == "blas")


_THREADED_GEMM = 2**18
"""Smallest ``m * n * k`` a BLAS may split across threads (OpenBLAS: 4 x 65,536; MKL: more)."""


def one_blas_thread(largest_gemm: int) -> contextlib.AbstractContextManager:
    """Context in which NumPy's BLAS runs on one thread: small matrices, next to torch's pool.

    Args:
        largest_gemm: ``m * n * k`` of the largest matrix product inside; below
            ``_THREADED_GEMM`` no BLAS threads and the context is free.
    """
    if largest_gemm < _THREADED_GEMM:
        return contextlib.nullcontext()
    return _single_blas_thread()


@contextlib.contextmanager
def _single_blas_thread() -> Iterator[None]:
    # Sets and restores the thread counts directly: threadpoolctl's ``limit`` re-reads every
    # library's state on entry, which costs more than a small circuit.
    libraries = _blas_libraries()
    before = [lib.get_num_threads() for lib in libraries]
    for lib, count in zip(libraries, before, strict=True):
        if count != 1:
            lib.set_num_threads(1)
    try:
        yield
    finally:
        for lib, count in zip(libraries, before, strict=True):
            if count != 1:
                lib.set_num_threads(count)


def use_host(device: torch.device, n_qubits: int) -> bool:
    """Whether :func:`host_stacked_unitary` is the dense method's build for this call.

    Args:
        device: Where the call runs.
        n_qubits: Qubits per circuit.

    Returns:
        True on the CPU outside ``torch.compile`` (which cannot trace NumPy calls on
        tensors) and a qubit count in :data:`HOST_QUBITS`.
    """
    return n_qubits in HOST_QUBITS and device.type == "cpu" and not torch.compiler.is_compiling()


def _rot(angles: np.ndarray, to_half: np.ndarray) -> tuple[np.ndarray, tuple[np.ndarray, ...]]:
    """Gate matrices ``(..., 2, 2)`` from ``(..., 3)`` angles, and what the backward pass needs."""
    half = angles @ to_half
    c, s = np.cos(half[..., 0]), np.sin(half[..., 0])
    ep = np.exp(-1j * half[..., 1])  # e^{-ip}
    em = np.exp(1j * half[..., 2])  # e^{im}
    gates = np.empty((*angles.shape[:-1], 2, 2), dtype=ep.dtype)
    gates[..., 0, 0] = c * ep
    gates[..., 0, 1] = -s * em
    gates[..., 1, 0] = s * em.conj()
    gates[..., 1, 1] = c * ep.conj()
    return gates, (c, s, ep, em)


def _rot_backward(
    grad: np.ndarray, gates: np.ndarray, saved: tuple[np.ndarray, ...], to_half: np.ndarray
) -> np.ndarray:
    """The angles' gradient ``(..., 3)`` from the gate matrices' ``(..., 2, 2)``.

    For a real parameter ``t``, ``dL/dt = Re sum(conj(G) dg/dt)``.
    """
    c, s, ep, em = saved
    g00, g01, g10, g11 = (grad[..., i, j].conj() for i in (0, 1) for j in (0, 1))
    d_c = (g00 * ep + g11 * ep.conj()).real
    d_s = (g10 * em.conj() - g01 * em).real
    d_p = (g00 * gates[..., 0, 0]).imag - (g11 * gates[..., 1, 1]).imag  # Re(-i z) = Im z
    d_m = (g10 * gates[..., 1, 0]).imag - (g01 * gates[..., 0, 1]).imag
    d_half = np.stack([c * d_s - s * d_c, d_p, d_m], axis=-1)
    return d_half @ to_half.T


def _kron(gates: np.ndarray) -> np.ndarray:
    """``g_0 ⊗ ... ⊗ g_{n-1}`` ``(..., N, N)`` from ``(..., n, 2, 2)``.

    Built from the right (``g_j ⊗ rest``), so every broadcast product's innermost run is the
    growing ``rest`` rather than a ``2x2`` gate: half the time of the left-to-right order.
    """
    out = gates[..., -1, :, :]
    for j in range(gates.shape[-3] - 2, -1, -1):
        out = _prepend(gates[..., j, :, :], out)
    return out


def _kron_backward(grad: np.ndarray, gates: np.ndarray) -> np.ndarray:
    """The gates' gradient ``(..., n, 2, 2)`` from their Kronecker product's ``(..., N, N)``.

    With ``K = g_0 ⊗ R_0``: ``dL/dg_0[a, b] = <conj(R_0), block (a, b) of G>``, and contracting
    wire 0 away (``sum_ab conj(g_0[a, b]) G_ab``) leaves the same problem one wire shorter.
    """
    conj = gates.conj()
    n = gates.shape[-3]
    rests = [conj[..., n - 1, :, :]] if n > 1 else []  # R_{n-2}, then R_{n-3}, ..., R_0
    for j in range(n - 2, 0, -1):
        rests.append(_prepend(conj[..., j, :, :], rests[-1]))
    out = np.empty_like(gates)
    lead = grad.shape[:-2]
    for j, rest in enumerate(reversed(rests)):
        size = rest.shape[-1]
        blocks = grad.reshape(*lead, 2, size, 2, size).swapaxes(-3, -2)  # (..., a, b, r, c)
        blocks = blocks.reshape(*lead, 4, size * size)
        out[..., j, :, :] = (blocks @ rest.reshape(*lead, size * size, 1)).reshape(*lead, 2, 2)
        grad = (conj[..., j, :, :].reshape(*lead, 1, 4) @ blocks).reshape(*lead, size, size)
    out[..., n - 1, :, :] = grad
    return out


def _prepend(gate: np.ndarray, rest: np.ndarray) -> np.ndarray:
    """``gate ⊗ rest`` for a ``2x2`` gate and a square ``rest``, batched."""
    size = rest.shape[-1]
    return (gate[..., :, None, :, None] * rest[..., None, :, None, :]).reshape(
        *rest.shape[:-2], 2 * size, 2 * size
    )


def _gemm_size(weights: Tensor) -> int:
    """``N^3``: the layer chain's matrix products, for weights ``(C, L, n, 3)``."""
    return 8 ** weights.shape[-2]


def stacked_forward(weights: Tensor, circuit: HostCircuit) -> tuple[np.ndarray, tuple]:
    """``[Re U; Im U]`` ``(C, 2N, N)`` in the weights' precision, and what the backward needs."""
    angles = weights.detach().numpy()  # (C, L, n, 3)
    constants = circuit.constants(angles.dtype)
    rot, saved = _rot(angles, constants["to_half"])
    gates = rot if constants["phase"] is None else rot * constants["phase"]
    layers = _kron(gates)  # (C, L, N, N)
    if circuit.perms is not None:
        layers = layers[:, circuit.layer_index, circuit.perms, :]
    partial = [layers[:, 0]]
    for index in range(1, layers.shape[1]):
        partial.append(layers[:, index] @ partial[-1])
    basis = constants["basis"]
    unitary = partial[-1] if basis is None else basis @ partial[-1]
    stacked = np.concatenate([unitary.real, unitary.imag], axis=-2)
    return stacked, (rot, saved, gates, layers, partial[:-1])


def stacked_backward(grad: np.ndarray, circuit: HostCircuit, cache: tuple) -> np.ndarray:
    """The weights' gradient ``(C, L, n, 3)`` from that of ``[Re U; Im U]``."""
    rot, saved, gates, layers, before = cache
    constants = circuit.constants(grad.dtype)
    n_states = grad.shape[-1]
    env = grad[:, :n_states] + 1j * grad[:, n_states:]  # PyTorch's complex gradient of U
    if constants["basis_adjoint"] is not None:
        env = constants["basis_adjoint"] @ env
    grad_layers = np.empty_like(layers)
    for index in range(layers.shape[1] - 1, 0, -1):
        grad_layers[:, index] = env @ before[index - 1].conj().swapaxes(-1, -2)
        env = layers[:, index].conj().swapaxes(-1, -2) @ env
    grad_layers[:, 0] = env
    if circuit.perms is not None:  # A_l = K_l[perm_l]: put A_l's rows back in K_l's order
        grad_layers = grad_layers[:, circuit.layer_index, circuit.inverse_perms, :]
    grad_gates = _kron_backward(grad_layers, gates)
    if constants["phase"] is not None:
        grad_gates = grad_gates * constants["phase"].conj()
    return _rot_backward(grad_gates, rot, saved, constants["to_half"])


class _HostStackedUnitary(torch.autograd.Function):
    @staticmethod
    def forward(
        ctx: torch.autograd.function.FunctionCtx,
        weights: Tensor,
        circuit: HostCircuit,
        torch_build: TorchBuild,
    ) -> Tensor:
        with one_blas_thread(_gemm_size(weights)):
            stacked, cache = stacked_forward(weights, circuit)
        ctx.circuit, ctx.torch_build, ctx.cache = circuit, torch_build, cache
        ctx.save_for_backward(weights)
        return torch.from_numpy(stacked).to(weights.dtype)

    @staticmethod
    def backward(
        ctx: torch.autograd.function.FunctionCtx, grad: Tensor
    ) -> tuple[Tensor | None, None, None]:
        (weights,) = ctx.saved_tensors
        if torch.is_grad_enabled():  # create_graph: differentiate the torch build
            stacked = ctx.torch_build(weights)
            return torch.autograd.grad(stacked, weights, grad, create_graph=True)[0], None, None
        host_grad = grad.detach().to(weights.dtype).numpy()
        with one_blas_thread(_gemm_size(weights)):
            grad_weights = stacked_backward(host_grad, ctx.circuit, ctx.cache)
        return torch.from_numpy(grad_weights).to(weights.dtype), None, None


def host_stacked_unitary(weights: Tensor, circuit: HostCircuit, torch_build: TorchBuild) -> Tensor:
    """``[Re U; Im U]`` of every circuit, computed in NumPy (see the module docstring).

    Args:
        weights: CPU weights ``(C, L, n, 3)``: layer ``l``'s ``Rot(φ, θ, ω)`` on every wire.
        circuit: The circuit's constant parts.
        torch_build: The same computation in torch (differentiated for higher derivatives).

    Returns:
        Real tensor ``(C, 2N, N)`` in the weights' dtype.
    """
    if torch.is_grad_enabled() and weights.requires_grad:
        return _HostStackedUnitary.apply(weights, circuit, torch_build)
    with one_blas_thread(_gemm_size(weights)):
        stacked = stacked_forward(weights, circuit)[0]
    return torch.from_numpy(stacked).to(weights.dtype)
