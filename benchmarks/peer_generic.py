"""The generic-circuit workload of benchmarks/peers.py: a user's circuit in every library.

:class:`GenericSpec` is the example re-uploading ansatz of ``hqnn_pl/examples/circuits.py``
(4 qubits, inputs ``RY``-encoded in both layers, ``Rot`` on every wire, ``CRZ`` from wire ``i``
to ``i + 2``; ``<Z_i Z_{i+1}>`` and ``<X_0>``), run by hqnn-pl as a
:class:`~hqnn_pl.quantum.CircuitLayer` (compiled from the PennyLane function) and written out
gate by gate for tensorcircuit-ng and torchquantum-ng. Weights are one flat vector: the 24
``Rot`` angles ``theta (2, 4, 3)``, then the 8 ``CRZ`` angles ``mix (2, 4)``. Every contender is
checked against PennyLane before it is timed (benchmarks/peers.py), so a peer whose gate
conventions differ shows as WRONG, not as a time.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import torch

from hqnn_pl.examples.circuits import LAYERS, N_QUBITS, WEIGHT_SHAPES, reuploading_ansatz
from hqnn_pl.quantum import CircuitLayer

__all__ = ["GenericSpec", "layer", "readout", "tensorcircuit_jax", "torchquantum"]

N_WEIGHTS = LAYERS * N_QUBITS * 4


@dataclasses.dataclass(frozen=True)
class GenericSpec:
    """The example re-uploading ansatz (a user's circuit) on ``batch`` samples."""

    batch: int = 256
    n_qubits = N_QUBITS
    n_circuits = 1

    def label(self) -> str:
        """Short description for tables."""
        return f"re-uploading ansatz as CircuitLayer, q={N_QUBITS}, batch {self.batch}"

    def gates(self) -> int:
        """Gates per circuit (Rot as three rotations)."""
        return LAYERS * N_QUBITS * 5

    def data(self, generator: torch.Generator) -> tuple[torch.Tensor, ...]:
        """Inputs ``(B, 4)``, flat weights ``(32,)`` and the cotangent ``(B, 5)``."""
        inputs = torch.rand(self.batch, N_QUBITS, generator=generator) * math.pi
        weights = torch.rand(N_WEIGHTS, generator=generator) * 2 * math.pi
        return inputs, weights, torch.randn(self.batch, N_QUBITS + 1, generator=generator)


def layer(weights: torch.Tensor, **kwargs: Any) -> CircuitLayer:
    """The ansatz as hqnn-pl runs it, with the flat ``weights`` copied in."""
    module = CircuitLayer(reuploading_ansatz, WEIGHT_SHAPES, N_QUBITS, **kwargs)
    with torch.no_grad():
        module.theta.copy_(weights[:24].reshape(LAYERS, N_QUBITS, 3))
        module.mix.copy_(weights[24:].reshape(LAYERS, N_QUBITS))
    return module


def flat_grad(module: CircuitLayer) -> torch.Tensor:
    """The gradient of the flat weights (``theta`` then ``mix``)."""
    return torch.cat([module.theta.grad.reshape(-1), module.mix.grad.reshape(-1)])


def readout(state: torch.Tensor) -> torch.Tensor:
    """``<Z_i Z_{i+1}>`` and ``<X_0>`` of state vectors ``(B, 16)`` (wire 0 most significant)."""
    n = N_QUBITS
    probs = state.abs().square()
    index = torch.arange(2**n, device=state.device)
    bits = [(index >> (n - 1 - i)) & 1 for i in range(n)]
    outs = [probs @ (1 - 2 * (bits[i] ^ bits[(i + 1) % n])).to(probs.dtype) for i in range(n)]
    flipped = state[:, index ^ (1 << (n - 1))]
    outs.append((state.conj() * flipped).sum(-1).real)
    return torch.stack(outs, dim=-1)


def tensorcircuit_jax(problem: Any, device: torch.device, tc: Any, jax: Any) -> Any:
    """tensorcircuit-ng on JAX: the ansatz gate by gate, ``vmap`` + ``jit(value_and_grad)``."""
    del device
    jnp = jax.numpy
    n = N_QUBITS

    def circuit(x: Any, w: Any) -> Any:
        theta, mix = w[:24].reshape(LAYERS, n, 3), w[24:].reshape(LAYERS, n)
        c = tc.Circuit(n)
        for layer_index in range(LAYERS):
            for i in range(n):
                c.ry(i, theta=x[i])
                c.rz(i, theta=theta[layer_index, i, 0])  # Rot(φ, θ, ω) = RZ(ω) RY(θ) RZ(φ)
                c.ry(i, theta=theta[layer_index, i, 1])
                c.rz(i, theta=theta[layer_index, i, 2])
            for i in range(n):
                c.crz(i, (i + 2) % n, theta=mix[layer_index, i])
        outs = [c.expectation_ps(z=[i, (i + 1) % n]) for i in range(n)]
        return jnp.stack([*outs, c.expectation_ps(x=[0])]).real

    batched = jax.vmap(circuit, in_axes=(0, None))

    def loss(x: Any, w: Any, cot: Any) -> Any:
        out = batched(x, w)
        return jnp.sum(out * cot), out

    step = jax.jit(jax.value_and_grad(loss, argnums=(0, 1), has_aux=True))
    x, w = jnp.asarray(problem.inputs.numpy()), jnp.asarray(problem.weights.numpy())
    cot = jnp.asarray(problem.cotangent.numpy())

    def run() -> Any:
        (_, out), (gx, gw) = step(x, w, cot)
        jax.block_until_ready(gw)
        return out, {"weights": gw, "inputs": gx}

    return run


def torchquantum(problem: Any, device: torch.device, tq: Any, tqf: Any) -> Any:
    """torchquantum-ng: the ansatz on a batched ``QuantumDevice``, read out from its states."""
    del tq
    n = N_QUBITS
    x = problem.inputs.detach().to(device).clone().requires_grad_(True)
    w = problem.weights.detach().to(device).clone().requires_grad_(True)
    cot = problem.cotangent.to(device)

    def run() -> Any:
        from torchquantum import QuantumDevice

        x.grad = w.grad = None
        theta, mix = w[:24].reshape(LAYERS, n, 3), w[24:].reshape(LAYERS, n)
        qdev = QuantumDevice(n_wires=n, bsz=x.shape[0], device=device)
        for layer_index in range(LAYERS):
            for i in range(n):
                tqf.ry(qdev, wires=i, params=x[:, i])
                tqf.rot(qdev, wires=i, params=theta[layer_index, i][None])
            for i in range(n):
                tqf.crz(qdev, wires=[i, (i + 2) % n], params=mix[layer_index, i : i + 1])
        out = readout(qdev.get_states_1d())
        (out * cot).sum().backward()
        return out, {"weights": w.grad, "inputs": x.grad}

    return run
