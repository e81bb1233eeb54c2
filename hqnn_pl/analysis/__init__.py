"""Diagnostics of the quantum layers, behind the ``hqnn-pl-diagnose`` console script.

One module per measure:

* :mod:`~hqnn_pl.analysis.fourier`: Fourier coefficients over the first two inputs (Fig. 10 of
  Senokosov et al. 2024).
* :mod:`~hqnn_pl.analysis.zx`: ZX-calculus reduction with pyzx and a check of which weights and
  inputs survive it (their Fig. 9 and appendix A.1).
* :mod:`~hqnn_pl.analysis.expressibility`: KL divergence to Haar fidelities (Sim et al. 2019).
* :mod:`~hqnn_pl.analysis.entanglement`: mean Meyer-Wallach entangling capability.
* :mod:`~hqnn_pl.analysis.gradients`: gradient variance over depth and qubits (barren plateaus).

:mod:`~hqnn_pl.analysis.statevector` simulates any of the project's PennyLane circuits for a whole
batch of weight draws in torch; :mod:`~hqnn_pl.analysis.specs` describes a layer's circuit.
"""
