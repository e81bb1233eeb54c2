"""Ablations of the quantum block: train it, freeze it at its seeded start, or take it out.

Every quantum model accepts ``quantum_block`` (``--model.init_args.quantum_block frozen``):

* ``trained`` (default): the circuit weights train with the rest of the network.
* ``frozen``: the circuit keeps the weights it was initialised with (from ``seed_everything``);
  they are not trainable, so they are bit-identical after training. Is training the circuit
  what helps?
* ``identity``: the circuit is removed from the data path and replaced by a parameter-free
  module with the same output shape. Does the circuit help at all? Per layer kind:

  Each layer defines its stand-in (:meth:`~hqnn_pl.quantum.QuantumLayer.identity`):

  - :class:`~hqnn_pl.quantum.ParallelQuantumLayer` ``(..., n) -> (..., n)``: the features pass
    through unchanged (``nn.Identity``).
  - :class:`~hqnn_pl.quantum.Quanv2d` and :class:`~hqnn_pl.quantum.RandomQuanv2d`
    ``(B, C, H, W) -> (B, C*k*k, H', W')``: the patch's own
    pixels in place of its qubits' ``<Z>`` (output channel ``c*k*k + j`` is pixel ``j``,
    row-major, of the ``k x k`` patch of channel ``c``, as qubit ``j`` is in the circuit): a
    space-to-depth rearrangement that loses nothing.
  - :class:`~hqnn_pl.quantum.QuantumPointwiseConv2d` ``(B, C, H, W) -> (B, m, H, W)``: the
    first ``m`` input channels (zero channels appended when ``m > C``), since there is no
    parameter-free map from ``C`` to ``m`` channels that would be more neutral.

Models with a circuit that never trains (``RandomQuanvNet``) default to ``frozen`` and refuse
``trained``.
"""

from __future__ import annotations

from typing import Literal

from torch import nn

from hqnn_pl.errors import ConfigurationError
from hqnn_pl.quantum.layers import QuantumLayer, is_quantum_layer
from hqnn_pl.quantum.layers.pointwise import ChannelIdentity
from hqnn_pl.quantum.layers.quanv import PatchIdentity

__all__ = [
    "QUANTUM_BLOCK_MODES",
    "ChannelIdentity",
    "PatchIdentity",
    "QuantumBlock",
    "QuantumBlockMixin",
    "apply_quantum_block",
    "identity_for",
]

QuantumBlock = Literal["trained", "frozen", "identity"]
QUANTUM_BLOCK_MODES = ("trained", "frozen", "identity")


def identity_for(layer: QuantumLayer) -> nn.Module:
    """The parameter-free, shape-preserving stand-in for one quantum layer (its own hook)."""
    return layer.identity()


def apply_quantum_block(network: nn.Module, mode: str, model_name: str) -> nn.Module:
    """Freeze or replace every quantum layer of ``network`` according to ``mode``.

    Args:
        network: The model's network, with its quantum layers already initialised.
        mode: ``trained``, ``frozen`` or ``identity``.
        model_name: The model's class name, for error messages.

    Returns:
        ``network`` (changed in place; a quantum layer that is the network itself is
        returned replaced).

    Raises:
        ConfigurationError: For an unknown mode or a network without a quantum layer.
    """
    if mode not in QUANTUM_BLOCK_MODES:
        raise ConfigurationError(
            f"quantum_block={mode!r} is not a mode; use one of {', '.join(QUANTUM_BLOCK_MODES)}."
        )
    if is_quantum_layer(network):
        return _ablate(network, mode)
    found = False
    for parent in list(network.modules()):
        for name, child in list(parent.named_children()):
            if is_quantum_layer(child):
                found = True
                setattr(parent, name, _ablate(child, mode))
    if not found:
        raise ConfigurationError(
            f"{model_name} has no quantum block, so quantum_block={mode!r} ablates nothing. "
            "Use quantum_block with a quantum model (HQNNParallel, HQNNQuanv, QPCNN, "
            "RandomQuanvNet, ResNetHQNN)."
        )
    return network


def _ablate(layer: nn.Module, mode: str) -> nn.Module:
    if mode == "frozen":
        layer.requires_grad_(False)
        return layer
    if mode == "identity":
        return identity_for(layer)
    return layer


class QuantumBlockMixin:
    """Give an :class:`~hqnn_pl.models.ImageClassifier` the ``quantum_block`` ablation option.

    The model's ``quantum_block`` argument is read from its saved hyperparameters when
    ``ImageClassifier.__init__`` passes the built network through :meth:`configure_quantum_block`.
    """

    @property
    def quantum_block(self) -> str:
        """The ablation mode (``trained`` unless the model's hyperparameters say otherwise)."""
        return self.hparams.get("quantum_block", "trained")

    def configure_quantum_block(self, network: nn.Module) -> nn.Module:
        """Train, freeze or remove the network's quantum layers (see the module docstring)."""
        if self.quantum_block not in QUANTUM_BLOCK_MODES:
            raise ConfigurationError(
                f"quantum_block={self.quantum_block!r} is not a mode; use one of "
                f"{', '.join(QUANTUM_BLOCK_MODES)}."
            )
        return apply_quantum_block(network, self.quantum_block, type(self).__name__)
