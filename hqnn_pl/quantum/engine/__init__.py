"""Exact batched state-vector execution of the project's circuits in plain PyTorch.

The circuits in :mod:`hqnn_pl.quantum.circuits` all have the same structure: an input-dependent
*embedding* that prepares a state with real amplitudes (up to a fixed, input-independent phase per
basis state), an input-independent trainable block ``U(θ)``, and a measurement of Pauli
observables. This module exploits that structure:

* ``U(θ)`` is built once per forward pass as a dense ``2^n x 2^n`` complex matrix (one per
  circuit, circuits stacked along a leading dimension): every layer of single-qubit gates is one
  Kronecker product of batched ``2x2`` matrices, and every fixed pattern of CNOTs is a permutation
  of the computational basis, applied by indexing rows. At these sizes per-call overhead, not
  arithmetic, sets the cost, so on CPU the same build runs in NumPy with a written-out backward
  pass for 4-8 qubits (:mod:`~.host_unitary`) and 1-3 qubit circuits run end to end in NumPy
  (:mod:`~.host_readout`); elsewhere few qubits take gradients from shifted unitaries
  (:mod:`~.shifted`).
* The basis change that diagonalises the measured Pauli (``H`` for X, ``H S^†`` for Y) and the
  embedding's fixed phases are folded into that matrix, so every measurement is in the Z basis.
* The whole batch of encoded (real) states is multiplied by ``[Re U; Im U]`` in one real batched
  matmul; probabilities are the squared amplitudes and ``<Z_j>`` is a contraction with a ``±1``
  sign table. The batch is the *last* dimension throughout (see :func:`product_state`).
* Small circuits on ``RY``-encoded product states (quanvolution patches of up to 4 qubits) skip
  amplitudes altogether and run in the Heisenberg picture: ``<Z_j>`` is a sum over the few Pauli
  strings on which ``U^† Z_j U`` has a non-zero coefficient (:func:`z_transfer`), each a product
  of ``cos``/``sin`` of the pixels (:func:`patch_pauli_expvals`). When every weight enters one
  Pauli rotation (the HQNN-Quanv block), those coefficients are a trigonometric polynomial of
  the weights, tabulated exactly once from the circuit (:func:`fit_trig_polynomial`) and
  differentiated with the parameter-shift rule (:func:`trig_polynomial`).

* A user's own circuit (:class:`~hqnn_pl.quantum.CircuitLayer`) is compiled from its tape
  (:mod:`~.compile`) and runs gate by gate (:mod:`~.circuit_run`) or, by default, planned into
  fused blocks and per-sample phase layers (:mod:`~.fused`) whose evolution is one autograd
  node with a written-out backward (:mod:`~.fused_evolve`).
* Noise and shots run as functions of tensors and programs (:mod:`~.noisy`, :mod:`~.density`,
  :mod:`~.pauli_transfer`, :mod:`~.shots`); nothing here takes a layer.
* :mod:`~.planner` names the route of each call (see :mod:`hqnn_pl.quantum.execution`).

Qubit ordering follows PennyLane: wire 0 is the most significant bit of a basis-state index.
Everything here works on CPU and CUDA, in float32 (complex64) and float64 (complex128).
"""

from hqnn_pl.quantum.engine.cost import (
    MAX_QUBITS,
    METHODS,
    check_engine_qubits,
    check_memory,
    choose_method,
)
from hqnn_pl.quantum.engine.dense import (
    build_unitary,
    expvals_z,
    kron_layer,
    probabilities,
    squared_amplitudes,
    stacked_real,
)
from hqnn_pl.quantum.engine.gates import product_state, rot_matrices
from hqnn_pl.quantum.engine.gatewise import (
    GateProgram,
    layer_matrices,
    layered_program,
    run_program,
)
from hqnn_pl.quantum.engine.heisenberg import (
    fit_trig_polynomial,
    patch_pauli_expvals,
    pauli_transfer_table,
    trig_factor_rows,
    trig_monomials,
    trig_polynomial,
    trig_products,
    z_transfer,
)
from hqnn_pl.quantum.engine.host_readout import (
    HOST_READOUT_QUBITS,
    HOST_READOUT_WORK,
    host_angle_readout,
    use_host_readout,
)
from hqnn_pl.quantum.engine.host_unitary import (
    HOST_QUBITS,
    HostCircuit,
    host_stacked_unitary,
    use_host,
)
from hqnn_pl.quantum.engine.planner import CircuitShape, Planner, plan_route
from hqnn_pl.quantum.engine.shifted import SHIFTED_MAX_WORK, shifted_readout, use_shifted
from hqnn_pl.quantum.engine.tables import (
    ConstantCache,
    basis_bits,
    compute_dtypes,
    pauli_basis_change,
    permutation_from_cnots,
    strongly_entangling_cnots,
    strongly_entangling_permutations,
    z_sign_table,
)

__all__ = [
    "HOST_QUBITS",
    "HOST_READOUT_QUBITS",
    "HOST_READOUT_WORK",
    "MAX_QUBITS",
    "METHODS",
    "SHIFTED_MAX_WORK",
    "CircuitShape",
    "ConstantCache",
    "GateProgram",
    "HostCircuit",
    "Planner",
    "basis_bits",
    "build_unitary",
    "check_engine_qubits",
    "check_memory",
    "choose_method",
    "compute_dtypes",
    "expvals_z",
    "fit_trig_polynomial",
    "host_angle_readout",
    "host_stacked_unitary",
    "kron_layer",
    "layer_matrices",
    "layered_program",
    "patch_pauli_expvals",
    "pauli_basis_change",
    "pauli_transfer_table",
    "permutation_from_cnots",
    "plan_route",
    "probabilities",
    "product_state",
    "rot_matrices",
    "run_program",
    "shifted_readout",
    "squared_amplitudes",
    "stacked_real",
    "strongly_entangling_cnots",
    "strongly_entangling_permutations",
    "trig_factor_rows",
    "trig_monomials",
    "trig_polynomial",
    "trig_products",
    "use_host",
    "use_host_readout",
    "use_shifted",
    "z_sign_table",
    "z_transfer",
]
