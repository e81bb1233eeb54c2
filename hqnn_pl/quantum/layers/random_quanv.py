"""The fixed random quanvolution (Henderson et al. 2019; PennyLane's quanvolution demo)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pennylane as qml
import torch
from torch import Tensor

from hqnn_pl.errors import ConfigurationError
from hqnn_pl.quantum import circuits, engine
from hqnn_pl.quantum.engine import noisy
from hqnn_pl.quantum.engine.density import NoisyProgram
from hqnn_pl.quantum.engine.planner import HEISENBERG_QUBITS, CircuitShape
from hqnn_pl.quantum.execution import Execution
from hqnn_pl.quantum.layers.base import _TWO_PI, _check_positive_ints
from hqnn_pl.quantum.layers.quanv import _NEGLIGIBLE, Quanvolution
from hqnn_pl.quantum.spec import CircuitSpec

__all__ = ["RandomQuanv2d"]


def _random_layers_program(angles: np.ndarray, seed: int) -> tuple[engine.GateProgram, np.ndarray]:
    """``qml.RandomLayers`` as a gate-wise program: rotations, and CNOT runs as permutations.

    Args:
        angles: RandomLayers angles of shape ``(n_random_layers, n)``.
        seed: Seed of RandomLayers' gate structure.

    Returns:
        The program and its gate matrices, complex of shape ``(G, 2, 2)``.
    """
    n_qubits = angles.shape[-1]
    ops: list[tuple[Any, ...]] = []
    perms: list[np.ndarray] = []
    matrices: list[np.ndarray] = []
    pending: list[tuple[int, int]] = []

    def flush() -> None:
        if pending:
            ops.append(("perm", len(perms)))
            perms.append(engine.permutation_from_cnots(n_qubits, pending))
            pending.clear()

    layers = qml.RandomLayers(angles, wires=range(n_qubits), seed=seed)
    for op in layers.decomposition():
        wires = [int(w) for w in op.wires]
        if op.name == "CNOT":
            pending.append((wires[0], wires[1]))
            continue
        flush()
        ops.append(("gate", wires[0], 1, len(matrices)))
        matrices.append(np.asarray(qml.matrix(op), dtype=np.complex128))
    flush()
    program = engine.GateProgram(n_qubits, tuple(ops), tuple(perms))
    return program, np.stack(matrices) if matrices else np.zeros((0, 2, 2), np.complex128)


class RandomQuanv2d(Quanvolution):
    """A fixed random circuit on every ``k x k`` patch: ``qml.RandomLayers(random_weights, seed)``.

    See :class:`~hqnn_pl.quantum.layers.quanv.Quanvolution` for the patches and outputs. The
    angles ``random_weights`` of shape ``(n_random_layers, k * k)`` are drawn uniformly in
    ``[0, 2π)`` by ``numpy.random.default_rng(seed)`` and kept as a buffer (saved in the
    state_dict); the circuit's tables are computed from it once, and recomputed only when the
    buffer changes. The layer has no trainable parameters, so its output for a dataset can be
    computed once and cached (it only depends on the images). The torch backend runs patches of
    up to 4 qubits in the Heisenberg picture, larger ones as state vectors (dense or gate-wise).

    Args:
        kernel_size: Patch side ``k`` (``k * k`` qubits).
        stride: Step between patches.
        n_random_layers: Number of RandomLayers layers.
        seed: Seed of both the angles and RandomLayers' gate structure.
        execution: How the circuits run (:class:`~hqnn_pl.quantum.execution.Execution`:
            backend, shots, noise, method, route; a mapping of its fields; None: exact torch).
            Methods: ``"heisenberg"`` (Pauli strings, up to 4 qubits), ``"dense"`` (the
            ``2^n x 2^n`` unitary, computed once), ``"gatewise"`` (a state vector gate by gate:
            e.g. 16 qubits for ``kernel_size=4``) or ``"auto"``.
    """

    def __init__(
        self,
        kernel_size: int = 2,
        stride: int = 2,
        n_random_layers: int = 1,
        seed: int = 0,
        execution: Execution | None = None,
    ) -> None:
        _check_positive_ints(
            kernel_size=kernel_size, stride=stride, n_random_layers=n_random_layers
        )
        n_qubits = kernel_size * kernel_size
        what = f"RandomQuanv2d(kernel_size={kernel_size}) (k*k qubits)"
        routes = ("heisenberg", "dense", "gatewise", "pauli_transfer", "density")
        # gates and CNOT runs of RandomLayers, an upper bound
        shape = CircuitShape(
            what, n_qubits, n_random_layers, 1, 0, routes, 3 * n_random_layers * n_qubits
        )
        super().__init__(kernel_size, stride, execution, shape)
        if self.execution.method == "heisenberg" and n_qubits > HEISENBERG_QUBITS:
            raise ConfigurationError(
                f"RandomQuanv2d(kernel_size={kernel_size}) cannot run with method='heisenberg': "
                f"it holds 3^n Pauli strings, for up to {HEISENBERG_QUBITS} qubits "
                f"(kernel_size=2); got {n_qubits}. Use method='auto', 'dense' or 'gatewise'."
            )
        self.n_random_layers = n_random_layers
        self.seed = seed
        rng = np.random.default_rng(seed)
        angles = rng.uniform(0.0, _TWO_PI, size=(n_random_layers, n_qubits))
        self.register_buffer("random_weights", torch.tensor(angles, dtype=torch.float32))
        self._random_key: tuple[Any, ...] | None = None
        self._noisy_random: tuple[bytes, NoisyProgram, np.ndarray] | None = None
        if self.backend == "pennylane":
            self._build_pennylane_qnode()

    def circuit(self) -> tuple[Callable[..., Any], dict[str, Any]]:
        """``circuits.quanv_random_circuit`` with this layer's seed."""
        return circuits.quanv_random_circuit, {"seed": self.seed}

    def circuit_spec(self) -> CircuitSpec:
        """The random circuit for the diagnostics (fixed, not trained; no family)."""
        n = self.n_qubits
        return CircuitSpec(
            name=(
                f"quanv random (RandomLayers, {self.n_random_layers} layer(s), {n} qubits, "
                f"seed={self.seed}, RY(pi x) embedding, <Z>)"
            ),
            qfunc=circuits.quanv_random_circuit,
            kwargs={"seed": self.seed},
            n_qubits=n,
            n_inputs=n,
            weight_shape=(self.n_random_layers, n),
            input_kind="pixel",
            circuit_weights=self.random_weights.detach().to("cpu", torch.float64)[None],
            trainable=False,
        )

    def shifted_angles(self) -> tuple[int, int]:
        """Nothing to shift: the circuit is fixed and the pixels of a first layer need none."""
        return 0, 0

    def _circuit_weights(self) -> Tensor:
        return self.random_weights

    def _prepare_route(self, route: str) -> None:
        """Recompute the route's tables when the ``random_weights`` buffer changed.

        The tables are cached with the buffer's identity and version counter (so
        ``load_state_dict``, ``.to()`` and in-place ops are seen) and the route. Up to 4 qubits
        the circuit is kept in the Heisenberg picture (the Pauli coefficients of
        ``U^† Z_j U``, see :func:`engine.patch_pauli_expvals`), beyond as ``[Re U; Im U]`` or a
        gate-wise program.
        """
        buffer = self.random_weights
        key = (id(buffer), buffer.data_ptr(), buffer._version, route)
        if self._random_key == key:
            return
        angles = buffer.detach().to("cpu", torch.float64).numpy()
        if route == "gatewise":
            self._program, gate_mats = _random_layers_program(angles, self.seed)
            self._tables.update(gate_mats=gate_mats)
        elif route == "heisenberg":
            unitary = circuits.random_layers_unitary(angles, self.seed)
            transfer = engine.z_transfer(unitary)  # (n, 3^n)
            strings = np.flatnonzero(np.abs(transfer).max(axis=0) > _NEGLIGIBLE)
            self._tables.update(
                string_rows=engine.trig_factor_rows(strings, self.n_qubits),
                transfer=transfer[:, strings],
            )
        else:
            unitary = circuits.random_layers_unitary(angles, self.seed)
            signs = engine.z_sign_table(self.n_qubits)
            self._tables.update(
                stacked=np.concatenate([unitary.real, unitary.imag]),
                signs2_t=np.concatenate([signs, signs]).T,
            )
        self._random_key = key

    def _forward_exact(
        self, route: str, patches: Tensor, tables: dict[str, Tensor | None]
    ) -> Tensor:
        """Heisenberg picture (a handful of Pauli strings) or a state vector (dense, gate-wise)."""
        if route == "heisenberg":
            return engine.patch_pauli_expvals(patches, tables["string_rows"], tables["transfer"])
        groups, out_h, out_w = patches.shape[:3]
        n_patches = groups * out_h * out_w
        pixels = patches.permute(3, 4, 0, 1, 2).reshape(self.n_qubits, n_patches)
        states = noisy.pixel_states(pixels)  # RY(π x)|0> = cos(π x / 2)|0> + sin(π x / 2)|1>
        if route == "gatewise":
            gate_mats = tables["gate_mats"]
            matrices = [gate_mats[i : i + 1] for i in range(len(gate_mats))]
            expvals = engine.run_program(self._program, states[None], matrices)[0]
        else:
            squared = engine.squared_amplitudes(tables["stacked"], states)  # (2N, P)
            expvals = engine.expvals_z(squared, tables["signs2_t"])  # (n, P)
        return expvals.view(self.n_qubits, groups, out_h, out_w).transpose(0, 1)

    def _noisy_program(
        self, weights: Tensor | None, cplx: torch.dtype, device: torch.device
    ) -> tuple[NoisyProgram, Tensor]:
        del weights
        angles = self.random_weights.detach().to("cpu", torch.float64).numpy()
        key = angles.tobytes()
        if self._noisy_random is None or self._noisy_random[0] != key:
            program, gate_mats = noisy.random_layers_noisy_program(angles, self.seed)
            self._noisy_random = (key, program, gate_mats)
        _, program, gate_mats = self._noisy_random
        return program, torch.as_tensor(gate_mats).to(device=device, dtype=cplx)[None]

    def extra_repr(self) -> str:
        """Summary shown by ``print(module)``."""
        return (
            f"kernel_size={self.kernel_size}, stride={self.stride}, "
            f"random(layers={self.n_random_layers}), seed={self.seed}, " + super().extra_repr()
        )
