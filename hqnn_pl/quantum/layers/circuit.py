"""A researcher's own PennyLane circuit as a quantum layer, compiled to the torch engine.

:class:`CircuitLayer` takes a quantum function written the way ``qml.qnn.TorchLayer`` wants it
(first argument ``inputs``, indexed ``inputs[..., i]``, then the weights by name) and runs it on
the engine (:mod:`hqnn_pl.quantum.engine.compile`, :mod:`hqnn_pl.quantum.engine.circuit_run`)::

    def ansatz(inputs, theta, phi):
        qml.AngleEmbedding(inputs, wires=range(4))
        qml.StronglyEntanglingLayers(theta, wires=range(4))
        qml.CRZ(phi[0] * inputs[..., 1], wires=[0, 3])
        return [qml.expval(qml.Z(0) @ qml.Z(3)), qml.probs(wires=[1, 2])]

    layer = CircuitLayer(ansatz, {"theta": (2, 4, 3), "phi": (1,)}, n_qubits=4)
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from typing import Any

import pennylane as qml
import torch
from torch import Tensor, nn

from hqnn_pl.errors import ConfigurationError
from hqnn_pl.quantum import engine
from hqnn_pl.quantum.engine import cost as engine_cost
from hqnn_pl.quantum.engine import density
from hqnn_pl.quantum.engine.circuit_run import CircuitProgram, gate_parameters
from hqnn_pl.quantum.engine.compile import CompiledCircuit, compile_circuit
from hqnn_pl.quantum.engine.fused import FusedProgram
from hqnn_pl.quantum.engine.planner import CircuitShape
from hqnn_pl.quantum.execution import Execution, as_execution
from hqnn_pl.quantum.layers.base import (
    _TWO_PI,
    QuantumLayer,
    _check_positive_int,
    _exact_precision,
    _output_dtype,
)
from hqnn_pl.quantum.spec import CircuitSpec

__all__ = ["ROUTES", "CircuitLayer", "OutputWidth"]

ROUTES = ("fused", "dense", "gatewise", "dense_shots", "density")
"""The routes of :class:`CircuitLayer` on the torch backend."""

_COMPILED: dict[tuple[Any, ...], CompiledCircuit] = {}


def _compiled(
    circuit: Callable[..., Any],
    shapes: dict[str, tuple[int, ...]],
    n_qubits: int,
    n_inputs: int,
    noise: Any,
) -> CompiledCircuit:
    """Compile once per structure (circuit, shapes, sizes, noise), shared by every layer."""
    noise_key = None if noise is None else tuple(sorted(noise.as_dict().items()))
    key = (circuit, tuple(shapes.items()), n_qubits, n_inputs, noise_key)
    if key not in _COMPILED:
        model = None
        if noise is not None and noise.has_gate_noise:  # readout: CircuitProgram's flips
            model = dataclasses.replace(noise, readout=0.0).pennylane_model()
        _COMPILED[key] = compile_circuit(circuit, shapes, n_qubits, n_inputs, model)
    return _COMPILED[key]


_FUSED: dict[int, tuple[CompiledCircuit, FusedProgram]] = {}


def _fused_program(cc: CompiledCircuit) -> FusedProgram:
    """The ``fused`` route's plan of ``cc``, made once per compiled circuit."""
    entry = _FUSED.get(id(cc))
    if entry is None or entry[0] is not cc:
        entry = _FUSED[id(cc)] = (cc, FusedProgram(cc))
    return entry[1]


class OutputWidth(nn.Module):
    """The ``identity`` ablation: features truncated or zero-padded to the layer's output width.

    Args:
        out_features: Output width.
    """

    def __init__(self, out_features: int) -> None:
        super().__init__()
        self.out_features = out_features

    def forward(self, x: Tensor) -> Tensor:
        """``x[..., :out]``, zero-padded on the right when ``x`` is narrower."""
        extra = self.out_features - x.shape[-1]
        return nn.functional.pad(x, (0, extra)) if extra > 0 else x[..., : self.out_features]


class CircuitLayer(QuantumLayer):
    """Any PennyLane circuit written the TorchLayer way, at engine speed.

    ``circuit(inputs, **weights)`` may use every gate with a matrix (on any wires), templates
    that decompose into them, inputs anywhere and any number of times, and weights shared or
    combined (``w[0] + w[1]``, ``2 * inputs[..., 0]``); it returns ``qml.expval`` of Pauli words
    (or real sums of them) and/or ``qml.probs``. The tape is recorded and compiled once per
    structure at construction (see :mod:`hqnn_pl.quantum.engine.compile`); anything else is
    refused there with one line naming the operation (``backend: pennylane`` runs it).

    The input ``(..., n_circuits * n_inputs)`` is split into ``n_circuits`` chunks, each run by
    its own copy of the circuit (own weights); outputs ``(..., n_circuits * n_outputs)`` are the
    measurements of each copy, concatenated in the order the circuit returns them (``2^k``
    entries for ``qml.probs`` of ``k`` wires). Each weight ``name`` is a parameter of shape
    ``weight_shapes[name]`` (with a leading ``n_circuits`` when ``n_circuits > 1``), drawn
    uniformly in ``[0, 2π)`` like TorchLayer's, from ``seed`` when given.

    With a device's noise (``execution={"noise": {"device": "fake_torino"}}``) the circuit is
    compiled with Qiskit to the device, once per measurement basis (:mod:`hqnn_pl.quantum.
    devices.measure`), and runs exactly on the ``device`` route; gate angles must then be affine
    in the inputs and weights, and anything else is refused at construction in one line.

    Args:
        circuit: The quantum function.
        weight_shapes: Shape of every weight argument, by name.
        n_qubits: Wires ``0..n_qubits-1``.
        n_inputs: Features per circuit (default ``n_qubits``).
        n_circuits: Copies of the circuit run side by side.
        execution: How the circuits run (:class:`~hqnn_pl.quantum.execution.Execution`).
        seed: Seed of the initial weights (None: torch's global generator).
    """

    def __init__(
        self,
        circuit: Callable[..., Any],
        weight_shapes: Mapping[str, int | tuple[int, ...]],
        n_qubits: int,
        n_inputs: int | None = None,
        n_circuits: int = 1,
        execution: Execution | Mapping[str, Any] | None = None,
        seed: int | None = None,
    ) -> None:
        n_inputs = n_qubits if n_inputs is None else n_inputs
        for name, value in (("n_qubits", n_qubits), ("n_inputs", n_inputs),
                            ("n_circuits", n_circuits)):  # fmt: skip
            _check_positive_int(name, value)
        shapes = {
            str(k): (int(v),) if isinstance(v, int) else tuple(int(d) for d in v)
            for k, v in weight_shapes.items()
        }
        reserved = [k for k in shapes if not k.isidentifier() or hasattr(nn.Module(), k)]
        if reserved:
            raise ConfigurationError(
                f"CircuitLayer: weight name(s) {', '.join(map(repr, reserved))} cannot be "
                "parameter names (not identifiers, or taken by nn.Module); rename the circuit's "
                "argument(s), e.g. to 'weights'."
            )
        execution = as_execution(execution)
        if execution.shot_gradients == "parameter-shift" and execution.backend == "torch":
            raise ConfigurationError(
                "CircuitLayer: shot_gradients='parameter-shift' is not compiled (a user's gates "
                "need not obey the two-term rule); use shot_gradients 'exact', or backend "
                "'pennylane' with diff_method 'parameter-shift'."
            )
        self._circuit_fn = circuit
        self.weight_shapes = shapes
        compiled = _compiled(circuit, shapes, n_qubits, n_inputs, None)
        gates = max(compiled.gate_count, 1)
        shape = CircuitShape(
            f"CircuitLayer({getattr(circuit, '__name__', 'circuit')}, n_qubits={n_qubits})",
            n_qubits,
            max(1, math.ceil(gates / n_qubits)),
            n_circuits,
            max(compiled.n_entries("weights"), 1),
            ROUTES,
        )
        super().__init__(execution, shape, ("auto", "dense", "gatewise"))
        self.n_inputs = n_inputs
        self.n_circuits = n_circuits
        self.n_outputs = compiled.n_outputs
        self.in_features = n_circuits * n_inputs
        self.out_features = n_circuits * compiled.n_outputs
        self._programs: dict[str, CircuitProgram] = {"exact": CircuitProgram(compiled)}
        lead = (n_circuits,) if n_circuits > 1 else ()
        for name, size in shapes.items():
            self.register_parameter(name, nn.Parameter(torch.empty(*lead, *size)))
        self.reset_parameters(seed)
        if self.backend == "pennylane":
            self._build_pennylane_qnode()
        self._device_groups: list[Any] = []
        if execution.device_noise is not None:
            self._check_device()

    def _check_device(self) -> None:
        """Refuse, in one line, a circuit that cannot run on a device (before any transpiling)."""
        from hqnn_pl.quantum.devices import compile as device_compile
        from hqnn_pl.quantum.devices import measure

        self._device_groups = measure.measurement_groups(self.compiled.measurements, self.n_qubits)
        # Every group's outcome projectors evolve back through the circuit (Heisenberg picture).
        density.check_density_memory(self.planner.shape.what, self.n_qubits, self.n_circuits,
                                     2**self.n_qubits, 1, 8,
                                     engine_cost.available_memory(torch.device("cpu")))  # fmt: skip
        try:
            device_compile.check_circuit(self.circuit_spec(), self._device_groups[0].bases)
        except ConfigurationError as error:
            raise ConfigurationError(f"CircuitLayer: {error}") from None

    def _device_executor(self, probs: bool, group: int = 0) -> Any:
        """The executor of measurement group ``group``'s compiled circuit (all its outcomes).

        Each group (one basis per wire) is compiled on its own (seeded, like hardware runs it);
        :meth:`device_circuit` is the first group's.
        """
        noise = self.execution.device_noise
        if noise is None or not self._device_groups:
            return super()._device_executor(probs)
        from hqnn_pl.quantum.devices.compile import compile_circuit
        from hqnn_pl.quantum.devices.executor import DeviceExecutor

        if self._device is None:
            self._device = {}
        if group not in self._device:
            compiled = compile_circuit(self.circuit_spec(), noise, self._device_groups[group].bases)
            self._device[group] = DeviceExecutor(compiled, True)
        return self._device[group]

    def device_circuits(self) -> list[Any]:
        """Every compiled device circuit, one per measurement basis (first: :meth:`device_circuit`).

        Returns:
            :class:`~hqnn_pl.quantum.devices.compile.CompiledCircuit` s, in group order.

        Raises:
            ConfigurationError: When the execution has no device noise.
        """
        count = max(len(self._device_groups), 1)
        return [self._device_executor(True, g).compiled for g in range(count)]

    def _forward_device(self, chunks: Tensor, weights: list[Tensor]) -> Tensor:
        """The ``device`` route: ``(C, B, n_inputs)`` -> ``(C, B, n_outputs)``.

        Each measurement group's noisy outcome distribution (readout confusion per qubit),
        sampled with shots, then the outputs as fixed linear functions of them
        (:func:`~hqnn_pl.quantum.devices.measure.measurement_groups`).
        """
        flat = torch.cat([w.reshape(self.n_circuits, -1) for w in weights], dim=1)
        out = None
        for index, group in enumerate(self._device_groups):
            executor = self._device_executor(True, index)
            probs = self._run_device_executor(executor, chunks, flat)  # (C, 2^n, B)
            table = torch.as_tensor(group.table, dtype=probs.dtype, device=probs.device)
            part = torch.einsum("jp,cpb->cbj", table, probs)
            out = part if out is None else out + part
        return out

    def _run_device_executor(self, executor: Any, inputs: Tensor, weights: Tensor) -> Tensor:
        """One executor's outcome probabilities ``(C, 2^n, B)``, sampled with shots."""
        out = executor.run(inputs, weights)
        if self._sampler is None:
            return out
        signs = torch.as_tensor(engine.z_sign_table(self.n_qubits), dtype=out.dtype)
        return self._sampler.estimate(out.clamp_min(0.0), signs.to(out.device), True, out)

    @property
    def compiled(self) -> CompiledCircuit:
        """The compiled noise-free circuit (its ``seconds`` is what compilation cost)."""
        return self._program("exact").cc

    def reset_parameters(self, seed: int | None = None) -> None:
        """Draw every weight uniformly in ``[0, 2π)`` (from ``seed`` when given)."""
        gen = None if seed is None else torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for name in self.weight_shapes:
                param = getattr(self, name)
                param.copy_(torch.rand(param.shape, generator=gen) * _TWO_PI)

    def _weights(self) -> list[Tensor]:
        """Every weight with a leading circuit dimension ``(C, *shape)``."""
        return [
            getattr(self, k) if self.n_circuits > 1 else getattr(self, k)[None]
            for k in self.weight_shapes
        ]

    def _flat_weights(self) -> Tensor:
        return torch.cat([w.reshape(self.n_circuits, -1) for w in self._weights()], dim=1)

    def _unflatten(self, flat: Any) -> dict[str, Any]:
        out, start = {}, 0
        for name, shape in self.weight_shapes.items():
            size = math.prod(shape)
            out[name] = flat[..., start : start + size].reshape(*flat.shape[:-1], *shape)
            start += size
        return out

    def circuit(self) -> tuple[Callable[..., Any], dict[str, Any]]:
        """The user's circuit as ``qfunc(inputs, weights)`` with all weights in one flat vector."""
        user, unflatten, replay = self._circuit_fn, self._unflatten, self._replay

        def flat_circuit(inputs: Any, weights: Any) -> Any:
            if qml.math.ndim(weights) > 1:  # a batch of weight draws (the diagnostics)
                return replay(inputs, weights)
            return user(inputs, **unflatten(weights))

        flat_circuit.__name__ = getattr(user, "__name__", "circuit")
        return flat_circuit, {}

    def _replay(self, inputs: Any, flat: Any) -> list[Any]:
        """The compiled gates as batched ``QubitUnitary`` s: one circuit per weight draw.

        A user's circuit indexes its weights (``theta[l, i]``), so it cannot take a batch of
        weight draws; the compiled program can (as circuits side by side).
        """
        program = self._program("exact")
        cc = program.cc
        flat = torch.as_tensor(flat, dtype=torch.float64)
        x = torch.as_tensor(inputs, dtype=torch.float64).reshape(-1, self.n_inputs)
        x = x.expand(flat.shape[0], -1)
        weights = list(self._unflatten(flat).values())
        mats = program.matrices(gate_parameters(cc, x[:, None], weights), torch.complex128)
        for index, op in enumerate(cc.ops):
            matrix = mats[index][:, 0] if index in mats else torch.as_tensor(op.matrix)
            qml.QubitUnitary(matrix, wires=list(op.wires))
        paulis = {"X": qml.X, "Y": qml.Y, "Z": qml.Z, "I": qml.Identity}
        out = []
        for m in cc.measurements:
            if m.kind == "probs":
                out.append(qml.probs(wires=list(m.wires)))
                continue
            terms = [
                qml.prod(*(paulis[p](w) for p, w in zip(word, wires, strict=True)))
                if wires else qml.Identity(0)
                for _, word, wires in m.words
            ]  # fmt: skip
            coeffs = [c for c, _, _ in m.words]
            obs = terms[0] if coeffs == [1.0] else qml.dot(coeffs, terms)
            out.append(qml.expval(obs))
        return out

    def circuit_spec(self) -> CircuitSpec:
        """The circuit for the diagnostics: weights flattened to ``(C, total)``."""
        weights = self._flat_weights().detach().to("cpu", torch.float64)
        name = getattr(self._circuit_fn, "__name__", "circuit")
        return CircuitSpec(
            name=f"{name}(n_qubits={self.n_qubits}, {self.compiled.gate_count} gates)",
            qfunc=self.circuit()[0], kwargs={}, n_qubits=self.n_qubits, n_inputs=self.n_inputs,
            weight_shape=(weights.shape[1],), input_kind="angle", circuit_weights=weights,
        )  # fmt: skip

    def shifted_angles(self) -> tuple[int, int]:
        """Gate parameters that depend on the weights, and on the inputs, per circuit."""
        return self.compiled.n_entries("weights"), self.compiled.n_entries("inputs")

    @property
    def measurement_settings(self) -> int:
        """Circuits a device runs per copy and sample: one per qubit-wise commuting group.

        ``<X0>`` and ``<Z0>`` need two settings (the circuit measured in two bases); words on
        other wires and ``probs`` share one when their Paulis agree wire by wire.
        """
        return self._program("exact").measurement_bases()

    def executions_per_call(self, x: Tensor) -> int:
        """Executions of one call on ``x`` ``(..., n_circuits * n_inputs)``.

        Per sample, every copy runs once per measurement setting (:attr:`measurement_settings`).
        """
        return x.numel() // self.in_features * self.n_circuits * self.measurement_settings

    def identity(self) -> nn.Module:
        """The features themselves, truncated or zero-padded to the output width."""
        if self.in_features == self.out_features:
            return nn.Identity()
        return OutputWidth(self.out_features)

    def example_args(self) -> tuple[Tensor, Tensor]:
        """Inputs ``0.1, 0.2, ...`` and circuit 0's flat weights, detached float64 CPU."""
        inputs = torch.arange(1, self.n_inputs + 1, dtype=torch.float64) / 10
        return inputs, self._flat_weights()[0].detach().to("cpu", torch.float64)

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        state["_programs"] = {}  # recompiled (from the shared cache) after unpickling
        return state

    def _program(self, key: str) -> CircuitProgram:
        if key not in self._programs:
            noise = self.noise if key == "noisy" else None
            cc = _compiled(self._circuit_fn, self.weight_shapes, self.n_qubits, self.n_inputs,
                           noise)  # fmt: skip
            readout = self.noise.readout if key == "noisy" and self.noise is not None else 0.0
            self._programs[key] = CircuitProgram(cc, density=key == "noisy", readout=readout)
        return self._programs[key]

    def _fused(self) -> FusedProgram:
        return _fused_program(self._program("exact").cc)

    @_exact_precision
    def forward(self, x: Tensor) -> Tensor:
        """Run every copy of the circuit on its chunk of ``x``.

        Args:
            x: ``(..., n_circuits * n_inputs)``.

        Returns:
            ``(..., n_circuits * n_outputs)`` in ``x``'s floating dtype (float32 otherwise).
        """
        self.check_input_features(
            x,
            f"n_circuits={self.n_circuits} x n_inputs={self.n_inputs}",
            "change n_circuits / n_inputs",
        )
        real, cplx = engine.compute_dtypes(x.dtype)
        lead = x.shape[:-1]
        chunks = x.to(real).reshape(-1, self.n_circuits, self.n_inputs)
        weights = [w.to(device=x.device, dtype=real) for w in self._weights()]
        if self.backend == "pennylane":
            out = torch.stack([self._run_qnode(chunks[:, c], weights, c)
                               for c in range(self.n_circuits)], dim=1)  # fmt: skip
        else:
            out = self._forward_torch(chunks.transpose(0, 1), weights, cplx).transpose(0, 1)
        return out.reshape(*lead, self.out_features).to(_output_dtype(x.dtype, real))

    def _run_qnode(self, inputs: Tensor, weights: list[Tensor], c: int) -> Tensor:
        if inputs.shape[0] == 0:
            return inputs.new_zeros(0, self.n_outputs)
        flat = torch.cat([w[c].reshape(-1) for w in weights])
        result = self._pennylane_qnode()(inputs, flat)
        parts = result if isinstance(result, (tuple, list)) else [result]
        rows = inputs.shape[0]
        return torch.cat([torch.as_tensor(p).reshape(rows, -1) for p in parts], dim=1).to(
            inputs.dtype
        )

    def _forward_torch(self, chunks: Tensor, weights: list[Tensor], cplx: torch.dtype) -> Tensor:
        """``(C, B, n_inputs)`` -> ``(C, B, n_outputs)`` on the planned route."""
        batch = chunks.shape[1]
        route = self._route(batch, chunks)
        if route == "device":
            return self._forward_device(chunks, weights)
        key = "noisy" if route == "density" else "exact"
        program = self._program(key)
        if route == "density":
            self._check_density(batch, chunks.dtype)
        params = gate_parameters(program.cc, chunks, weights)
        if route in ("fused", "dense_shots"):
            state = self._fused().run(program, params, cplx, batch)
        else:
            state = program.run(params, cplx, batch, dense=route == "dense")
        if self._sampler is not None:
            return program.sampled(state, self._sampler)
        return program.measure(state)

    def _check_density(self, batch: int, dtype: torch.dtype) -> None:
        """Refuse a density-matrix call that would not fit (autograd keeps a state per gate)."""
        ops = len(self._program("noisy").cc.ops) + 2
        need = self.n_circuits * batch * 4**self.n_qubits * 2 * torch.finfo(dtype).bits // 8 * ops
        available = engine_cost.available_memory(torch.device("cpu"))
        if need > available:
            raise ConfigurationError(
                f"{self.planner.shape.what} with noise needs about {need / 2**30:.1f} GiB for its "
                f"density matrices but {available / 2**30:.1f} GiB is available; use a smaller "
                "batch or fewer qubits."
            )
