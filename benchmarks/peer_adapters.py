"""The same circuits in every library that benchmarks/peers.py compares, behind one interface.

Two workloads, each as a forward and backward pass of the loss ``sum(outputs * cotangent)``:

* :class:`ParallelSpec`: ``n_circuits`` circuits of ``n_qubits`` qubits, each an RX angle
  embedding of its chunk of the input, ``depth`` StronglyEntanglingLayers (PennyLane's layout and
  CNOT ranges) and ``<Y>`` on every wire (:func:`hqnn_pl.quantum.circuits.parallel_circuit`, the
  circuit of HQNN-Parallel); gradients for the weights and the inputs.
* :class:`QuanvSpec`: the trainable HQNN-Quanv quanvolution (2x2 patches, stride 2, 4 qubits,
  :func:`hqnn_pl.quantum.circuits.quanv_trainable_circuit`) on ``batch`` 28x28 images; gradients
  for the 4 weights.

An adapter turns a spec, its data and weights into a function that runs one forward and backward
pass and returns ``(outputs, gradients)`` as float64 numpy arrays, outputs in the layout of this
project's layers: ``(B, n_circuits * n_qubits)`` or ``(B, 4, 14, 14)``. Peers are imported
lazily; a peer that is not installed raises :class:`PeerMissing`.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Callable
from typing import Any

import numpy as np
import peer_generic as pg
import torch

from hqnn_pl.quantum import CircuitLayer, Execution, ParallelQuantumLayer, Quanv2d, engine

PEERS_EXTRA = 'pip install -e ".[peers]"'

Result = tuple[np.ndarray, dict[str, np.ndarray]]
RunFn = Callable[[], Result]


class PeerMissing(RuntimeError):
    """A peer library is not importable (the message names the extra that installs it)."""


@dataclasses.dataclass(frozen=True)
class ParallelSpec:
    """HQNN-Parallel's circuits: ``n_circuits`` x (RX embedding, SEL ``depth``, ``<Y>``)."""

    n_qubits: int
    n_circuits: int = 1
    depth: int = 3
    batch: int = 256

    def label(self) -> str:
        """Short description for tables."""
        return f"q={self.n_qubits}, c={self.n_circuits}, depth {self.depth}, batch {self.batch}"

    def gates(self) -> int:
        """Gates per circuit (RX, Rot as 3 rotations, CNOTs, basis change)."""
        n = self.n_qubits
        cnots = n if n > 1 else 0
        return n + self.depth * (3 * n + cnots) + 2 * n


@dataclasses.dataclass(frozen=True)
class QuanvSpec:
    """The trainable quanvolution of HQNN-Quanv on ``batch`` 1x28x28 images."""

    batch: int = 64
    size: int = 28

    n_qubits = 4

    def label(self) -> str:
        """Short description for tables."""
        return f"Quanv2d trainable, 1x{self.size}x{self.size}, batch {self.batch}"

    def gates(self) -> int:
        """Gates per patch circuit."""
        return 11


Spec = ParallelSpec | QuanvSpec | pg.GenericSpec
GenericSpec = pg.GenericSpec


@dataclasses.dataclass
class Problem:
    """A spec with its data: inputs, weights and the loss cotangent (float32 torch, CPU)."""

    spec: Spec
    inputs: torch.Tensor
    weights: torch.Tensor
    cotangent: torch.Tensor


def make_problem(spec: Spec, seed: int = 0) -> Problem:
    """Random inputs, weights and cotangent for ``spec`` (the same for every library)."""
    generator = torch.Generator().manual_seed(seed)
    if isinstance(spec, GenericSpec):
        return Problem(spec, *spec.data(generator))
    if isinstance(spec, ParallelSpec):
        width = spec.n_circuits * spec.n_qubits
        inputs = torch.rand(spec.batch, width, generator=generator) * math.pi
        shape = (spec.n_circuits, spec.depth, spec.n_qubits, 3)
        weights = torch.rand(shape, generator=generator) * 2 * math.pi
        cotangent = torch.randn(spec.batch, width, generator=generator)
    else:
        half = spec.size // 2
        inputs = torch.rand(spec.batch, 1, spec.size, spec.size, generator=generator)
        weights = torch.rand(4, generator=generator) * 2 * math.pi
        cotangent = torch.randn(spec.batch, 4, half, half, generator=generator)
    return Problem(spec, inputs, weights, cotangent)


def patches(images: torch.Tensor) -> torch.Tensor:
    """2x2 stride-2 patches ``(B * H/2 * W/2, 4)`` in row-major pixel order, row-major patches."""
    b, _, h, w = images.shape
    grid = images[:, 0].reshape(b, h // 2, 2, w // 2, 2).permute(0, 1, 3, 2, 4)
    return grid.reshape(-1, 4)


def unpatch(values: Any, spec: QuanvSpec) -> Any:
    """Patch outputs ``(B * H/2 * W/2, 4)`` -> ``(B, 4, H/2, W/2)`` (numpy or torch)."""
    half = spec.size // 2
    return values.reshape(spec.batch, half, half, 4).transpose(0, 3, 1, 2)


def _leaf(t: torch.Tensor, device: torch.device, grad: bool = True) -> torch.Tensor:
    """A fresh copy of ``t`` on ``device`` (the problem's tensors stay as they are)."""
    return t.detach().to(device).clone().requires_grad_(grad)


def _as_numpy(run: Callable[[], Any]) -> RunFn:
    """``run`` with its outputs and gradients as float64 numpy arrays."""

    def wrapped() -> Result:
        out, grads = run()
        return _numpy(out), {k: _numpy(v) for k, v in grads.items()}

    return wrapped


def _numpy(t: Any) -> np.ndarray:
    if isinstance(t, torch.Tensor):
        return t.detach().to("cpu", torch.float64).numpy()
    return np.asarray(t, dtype=np.float64)


# --------------------------------------------------------------------------------------------
# This project: the torch engine and the PennyLane backend of the same layers.


def _layer_run(layer: torch.nn.Module, problem: Problem, device: torch.device) -> RunFn:
    x = _leaf(problem.inputs, device, isinstance(problem.spec, ParallelSpec | GenericSpec))
    cot = problem.cotangent.to(device)

    def run() -> Result:
        layer.zero_grad(set_to_none=True)
        x.grad = None
        out = layer(x)
        (out * cot).sum().backward()
        grads = {"weights": _numpy(weights_grad(layer))}
        if x.grad is not None:
            grads["inputs"] = _numpy(x.grad)
        return _numpy(out), grads

    return run


def weights_grad(layer: torch.nn.Module) -> torch.Tensor:
    """The gradient of a layer's weights as the problem holds them (flat for a CircuitLayer)."""
    return pg.flat_grad(layer) if isinstance(layer, CircuitLayer) else layer.weights.grad


def _layer(problem: Problem, **kwargs: Any) -> torch.nn.Module:
    spec = problem.spec
    if isinstance(spec, GenericSpec):
        return pg.layer(problem.weights, **kwargs)
    if isinstance(spec, ParallelSpec):
        layer = ParallelQuantumLayer(spec.n_qubits, spec.n_circuits, spec.depth, **kwargs)
    else:
        layer = Quanv2d(**kwargs)
    with torch.no_grad():
        layer.weights.copy_(problem.weights)
    return layer


def ours(problem: Problem, device: torch.device) -> RunFn:
    """hqnn-pl's torch engine (``method="auto"``)."""
    return _layer_run(_layer(problem).to(device), problem, device)


def pennylane_default(problem: Problem, device: torch.device) -> RunFn:
    """This project's pennylane backend: default.qubit, backprop, parameter broadcasting."""
    layer = _layer(problem, execution=Execution(backend="pennylane", diff_method="backprop"))
    return _layer_run(layer.to(device), problem, device)


def pennylane_lightning(problem: Problem, device: torch.device) -> RunFn:
    """The pennylane backend on lightning.qubit (C++) with adjoint differentiation."""
    layer = _layer(
        problem,
        execution=Execution(backend="pennylane", device="lightning.qubit", diff_method="adjoint"),
    )
    return _layer_run(layer, problem, torch.device("cpu"))  # a CPU simulator


# --------------------------------------------------------------------------------------------
# Peers from PyPI (the "peers" extra).


def _import(name: str) -> Any:
    try:
        return __import__(name, fromlist=["_"])
    except ImportError as err:
        raise PeerMissing(f"{name} is not installed ({err}); install the peers with "
                          f"{PEERS_EXTRA}") from err  # fmt: skip


def _sel_cnots(n_qubits: int, layer: int) -> list[tuple[int, int]]:
    """The CNOTs of StronglyEntanglingLayers' layer ``layer`` (PennyLane's default ranges)."""
    if n_qubits == 1:
        return []
    r = layer % (n_qubits - 1) + 1
    return [(i, (i + r) % n_qubits) for i in range(n_qubits)]


_QUANV_CNOTS = ((2, 3), (0, 2), (0, 3))


def tensorcircuit_jax(problem: Problem, device: torch.device) -> RunFn:
    """tensorcircuit-ng on JAX: ``vmap`` over the batch, ``jit(value_and_grad)``."""
    tc = _import("tensorcircuit")
    jax = _import("jax")
    jnp = jax.numpy
    tc.set_backend("jax")
    tc.set_dtype("complex64")
    spec = problem.spec
    if isinstance(spec, GenericSpec):
        return _as_numpy(pg.tensorcircuit_jax(problem, device, tc, jax))
    if isinstance(spec, ParallelSpec):
        n, depth = spec.n_qubits, spec.depth

        def circuit(x: Any, w: Any) -> Any:  # x (n,), w (depth, n, 3)
            c = tc.Circuit(n)
            for i in range(n):
                c.rx(i, theta=x[i])
            for layer in range(depth):
                for i in range(n):
                    c.rz(i, theta=w[layer, i, 0])
                    c.ry(i, theta=w[layer, i, 1])
                    c.rz(i, theta=w[layer, i, 2])
                for a, b in _sel_cnots(n, layer):
                    c.cnot(a, b)
            return jnp.stack([c.expectation_ps(y=[i]) for i in range(n)]).real

        per_circuit = jax.vmap(circuit, in_axes=(0, None))  # over the batch
        all_circuits = jax.vmap(per_circuit, in_axes=(1, 0), out_axes=1)  # over circuits

        def loss(x: Any, w: Any, cot: Any) -> Any:
            out = all_circuits(x.reshape(x.shape[0], spec.n_circuits, n), w)
            out = out.reshape(x.shape[0], -1)
            return jnp.sum(out * cot), out

        step = jax.jit(jax.value_and_grad(loss, argnums=(0, 1), has_aux=True))
        x = jnp.asarray(problem.inputs.numpy())
        w = jnp.asarray(problem.weights.numpy())
        cot = jnp.asarray(problem.cotangent.numpy())

        def run() -> Result:
            (_, out), (gx, gw) = step(x, w, cot)
            jax.block_until_ready(gw)
            return _numpy(out), {"weights": _numpy(gw), "inputs": _numpy(gx)}

        return run

    def patch_circuit(p: Any, w: Any) -> Any:  # p (4,), w (4,)
        c = tc.Circuit(4)
        for i in range(4):
            c.ry(i, theta=math.pi * p[i])
        c.rx(0, theta=w[0])
        c.rx(1, theta=w[1])
        for a, b in _QUANV_CNOTS:
            c.cnot(a, b)
        c.ry(0, theta=w[2])
        c.ry(3, theta=w[3])
        return jnp.stack([c.expectation_ps(z=[i]) for i in range(4)]).real

    batched = jax.vmap(patch_circuit, in_axes=(0, None))

    def quanv_loss(p: Any, w: Any, cot: Any) -> Any:
        out = unpatch(batched(p, w), spec)
        return jnp.sum(out * cot), out

    quanv_step = jax.jit(jax.value_and_grad(quanv_loss, argnums=1, has_aux=True))
    p = jnp.asarray(patches(problem.inputs).numpy())
    w = jnp.asarray(problem.weights.numpy())
    cot = jnp.asarray(problem.cotangent.numpy())

    def run_quanv() -> Result:
        (_, out), gw = quanv_step(p, w, cot)
        jax.block_until_ready(gw)
        return _numpy(out), {"weights": _numpy(gw)}

    return run_quanv


def torchquantum(problem: Problem, device: torch.device) -> RunFn:
    """torchquantum-ng: a batched ``QuantumDevice`` and its functional gates, torch autograd."""
    tq = _import("torchquantum")
    tqf = _import("torchquantum.functional")
    spec = problem.spec
    if isinstance(spec, GenericSpec):
        return _as_numpy(pg.torchquantum(problem, device, tq, tqf))
    weights = _leaf(problem.weights, device)
    cot = problem.cotangent.to(device)
    if isinstance(spec, ParallelSpec):
        n = spec.n_qubits
        x = _leaf(problem.inputs, device)

        def forward() -> torch.Tensor:
            outs = []
            for k in range(spec.n_circuits):
                qdev = tq.QuantumDevice(n_wires=n, bsz=x.shape[0], device=device)
                for i in range(n):
                    tqf.rx(qdev, wires=i, params=x[:, k * n + i])
                for layer in range(spec.depth):
                    for i in range(n):
                        tqf.rot(qdev, wires=i, params=weights[k, layer, i][None])
                    for a, b in _sel_cnots(n, layer):
                        tqf.cnot(qdev, wires=[a, b])
                outs.append(tq.measurement.expval(qdev, list(range(n)), [tq.PauliY()] * n))
            return torch.cat(outs, dim=-1)

    else:
        x = patches(problem.inputs).to(device)

        def forward() -> torch.Tensor:
            qdev = tq.QuantumDevice(n_wires=4, bsz=x.shape[0], device=device)
            for i in range(4):
                tqf.ry(qdev, wires=i, params=math.pi * x[:, i])
            tqf.rx(qdev, wires=0, params=weights[0:1])
            tqf.rx(qdev, wires=1, params=weights[1:2])
            for a, b in _QUANV_CNOTS:
                tqf.cnot(qdev, wires=[a, b])
            tqf.ry(qdev, wires=0, params=weights[2:3])
            tqf.ry(qdev, wires=3, params=weights[3:4])
            return tq.measurement.expval(qdev, list(range(4)), [tq.PauliZ()] * 4)

    def run() -> Result:
        weights.grad = None
        x.grad = None
        out = forward()
        if isinstance(spec, QuanvSpec):
            out = out.reshape(spec.batch, spec.size // 2, spec.size // 2, 4).permute(0, 3, 1, 2)
        (out * cot).sum().backward()
        grads = {"weights": _numpy(weights.grad)}
        if x.grad is not None:
            grads["inputs"] = _numpy(x.grad)
        return _numpy(out), grads

    return run


def pyqtorch(problem: Problem, device: torch.device) -> RunFn:
    """pyqtorch: a ``QuantumCircuit`` run on a batched state, torch autograd (``DiffMode.AD``)."""
    pyq = _import("pyqtorch")
    spec = problem.spec
    if isinstance(spec, GenericSpec):
        raise PeerMissing("pyqtorch: no adapter for the generic circuit (workload d)")
    cot = problem.cotangent.to(device)
    dtype = torch.complex64
    if isinstance(spec, ParallelSpec):
        n = spec.n_qubits
        ops: list[Any] = [pyq.RX(i, f"x{i}") for i in range(n)]
        for layer in range(spec.depth):
            for i in range(n):
                ops += [pyq.RZ(i, f"w{layer}_{i}_0"), pyq.RY(i, f"w{layer}_{i}_1"),
                        pyq.RZ(i, f"w{layer}_{i}_2")]  # fmt: skip
            ops += [pyq.CNOT(a, b) for a, b in _sel_cnots(n, layer)]
        circuit = pyq.QuantumCircuit(n, ops).to(device=device, dtype=dtype)
        observables = [pyq.Observable(pyq.Y(i)).to(device=device, dtype=dtype) for i in range(n)]
        x = _leaf(problem.inputs, device)
        weights = _leaf(problem.weights, device)

        def forward() -> torch.Tensor:
            outs = []
            for k in range(spec.n_circuits):
                values = {f"x{i}": x[:, k * n + i] for i in range(n)}
                for layer in range(spec.depth):
                    for i in range(n):
                        for a in range(3):
                            values[f"w{layer}_{i}_{a}"] = weights[k, layer, i, a]
                state = pyq.run(circuit, circuit.init_state(batch_size=x.shape[0]), values)
                outs += [obs.expectation(state).real.reshape(-1) for obs in observables]
            return torch.stack(outs, dim=-1)

    else:
        ops = [pyq.RY(i, f"x{i}") for i in range(4)]
        ops += [pyq.RX(0, "w0"), pyq.RX(1, "w1")]
        ops += [pyq.CNOT(a, b) for a, b in _QUANV_CNOTS]
        ops += [pyq.RY(0, "w2"), pyq.RY(3, "w3")]
        circuit = pyq.QuantumCircuit(4, ops).to(device=device, dtype=dtype)
        observables = [pyq.Observable(pyq.Z(i)).to(device=device, dtype=dtype) for i in range(4)]
        x = patches(problem.inputs).to(device)
        weights = _leaf(problem.weights, device)

        def forward() -> torch.Tensor:
            values = {f"x{i}": math.pi * x[:, i] for i in range(4)}
            values.update({f"w{i}": weights[i] for i in range(4)})
            state = pyq.run(circuit, circuit.init_state(batch_size=x.shape[0]), values)
            out = torch.stack([obs.expectation(state).real.reshape(-1) for obs in observables], -1)
            return out.reshape(spec.batch, spec.size // 2, spec.size // 2, 4).permute(0, 3, 1, 2)

    def run() -> Result:
        weights.grad = None
        x.grad = None
        out = forward()
        (out * cot).sum().backward()
        grads = {"weights": _numpy(weights.grad)}
        if x.grad is not None:
            grads["inputs"] = _numpy(x.grad)
        return _numpy(out), grads

    return run


CONTENDERS: dict[str, Callable[[Problem, torch.device], RunFn]] = {
    "ours": ours,
    "pennylane": pennylane_default,
    "lightning": pennylane_lightning,
    "tensorcircuit": tensorcircuit_jax,
    "torchquantum": torchquantum,
    "pyqtorch": pyqtorch,
}
"""Every contender by short name; ``"ours"`` is the reference for the ratios."""

LABELS = {
    "ours": "hqnn-pl torch engine",
    "pennylane": "pennylane default.qubit (backprop, broadcast)",
    "lightning": "pennylane lightning.qubit (adjoint)",
    "tensorcircuit": "tensorcircuit-ng (jax, vmap+jit)",
    "torchquantum": "torchquantum-ng",
    "pyqtorch": "pyqtorch",
}
"""What the tables call each contender."""

OURS = "ours"
PEER_MODULES = {
    "tensorcircuit": ("tensorcircuit", "jax"),
    "torchquantum": ("torchquantum",),
    "pyqtorch": ("pyqtorch",),
}
"""The PyPI peers and the modules each needs (installed by the ``peers`` extra)."""


def peer_available(name: str) -> str | None:
    """None if the peer's modules import, else a one-line reason naming the extra to install."""
    for module in PEER_MODULES.get(name, ()):
        try:
            _import(module)
        except PeerMissing as err:
            return str(err)
    return None


def estimated_bytes(name: str, spec: Spec) -> int:
    """Rough peak memory of one fwd+bwd: reverse-mode AD keeps about one state per gate.

    Our engine uses its own estimate (:mod:`hqnn_pl.quantum.engine.cost`); lightning.qubit's
    adjoint method keeps a few states of one sample at a time.
    """
    circuits = spec.n_circuits if isinstance(spec, ParallelSpec) else 1
    rows = spec.batch * (spec.size // 2) ** 2 if isinstance(spec, QuanvSpec) else spec.batch
    state = 2**spec.n_qubits * rows * 8  # complex64
    if name == OURS and isinstance(spec, GenericSpec):
        return (spec.gates() + 4) * state * 3
    if name == OURS:
        if isinstance(spec, QuanvSpec):
            return 8 * state
        layers = spec.depth + 1
        method = engine.choose_method("auto", spec.n_qubits, layers, circuits, rows)
        if method == "dense":
            return engine.cost.dense_bytes(spec.n_qubits, layers, circuits, rows, 4)
        return engine.cost.gatewise_bytes(spec.n_qubits, circuits, rows, 4)
    if name == "lightning":
        return 8 * 2**spec.n_qubits * 16 + state
    complex_bytes = 2 if name == "pennylane" else 1  # float64 intermediates
    return (spec.gates() + 4) * state * circuits * complex_bytes


def jax_devices() -> str:
    """JAX's devices, for the header (``"not installed"`` without JAX)."""
    try:
        jax = _import("jax")
    except PeerMissing:
        return "not installed"
    return ", ".join(str(d) for d in jax.devices())


def limit_threads(threads: int) -> None:
    """Ask every library for ``threads`` CPU threads (call before the peers are imported)."""
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))
    os.environ.setdefault("MKL_NUM_THREADS", str(threads))
    os.environ.setdefault("OPENBLAS_NUM_THREADS", str(threads))
    flags = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
    if threads == 1 and "XLA_FLAGS" not in os.environ:
        os.environ["XLA_FLAGS"] = flags
    torch.set_num_threads(threads)
