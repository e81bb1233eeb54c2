"""Ablations of the quantum block: train it, freeze it at its seeded start, or take it out.

Every quantum model accepts ``quantum_block`` (``--model.init_args.quantum_block frozen``):

* ``trained`` (default): the circuit weights train with the rest of the network.
* ``frozen``: the circuit keeps the weights it was initialised with (from ``seed_everything``);
  they are not trainable, so they are bit-identical after training. Is training the circuit
  what helps?
* ``identity``: the circuit is removed from the data path and replaced by a parameter-free
  module with the same output shape. Does the circuit help at all? Per layer kind:

  - :class:`~hqnn_pl.quantum.ParallelQuantumLayer` ``(..., n) -> (..., n)``: the features pass
    through unchanged (``nn.Identity``).
  - :class:`~hqnn_pl.quantum.Quanv2d` ``(B, C, H, W) -> (B, C*k*k, H', W')``: the patch's own
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

import torch.nn.functional as F
from torch import Tensor, nn

from hqnn_pl.errors import ConfigurationError
from hqnn_pl.quantum import ParallelQuantumLayer, QuantumPointwiseConv2d, Quanv2d

QuantumBlock = Literal["trained", "frozen", "identity"]
QUANTUM_BLOCK_MODES = ("trained", "frozen", "identity")
_QUANTUM_LAYERS = (ParallelQuantumLayer, Quanv2d, QuantumPointwiseConv2d)


class PatchIdentity(nn.Module):
    """Quanv2d's identity: each ``k x k`` patch's pixels as ``k*k`` channels (space to depth).

    Args:
        kernel_size: Patch side ``k``.
        stride: Step between patches.
    """

    def __init__(self, kernel_size: int, stride: int) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride

    def forward(self, x: Tensor) -> Tensor:
        """Map ``(B, C, H, W)`` to ``(B, C*k*k, H', W')``, Quanv2d's output shape."""
        batch, _, height, width = x.shape
        k = self.kernel_size
        out_h = (height - k) // self.stride + 1
        out_w = (width - k) // self.stride + 1
        patches = F.unfold(x, k, stride=self.stride)  # (B, C*k*k, H'*W'), channel-major
        return patches.reshape(batch, -1, out_h, out_w)

    def extra_repr(self) -> str:
        """Show the patch size and stride."""
        return f"kernel_size={self.kernel_size}, stride={self.stride}"


class ChannelIdentity(nn.Module):
    """QuantumPointwiseConv2d's identity: the first ``out_channels`` channels, zero-padded.

    Args:
        out_channels: Channels of the output (the quantum layer's output maps).
    """

    def __init__(self, out_channels: int) -> None:
        super().__init__()
        self.out_channels = out_channels

    def forward(self, x: Tensor) -> Tensor:
        """Map ``(B, C, H, W)`` to ``(B, out_channels, H, W)``."""
        kept = x[:, : self.out_channels]
        missing = self.out_channels - kept.shape[1]
        return F.pad(kept, (0, 0, 0, 0, 0, missing)) if missing > 0 else kept

    def extra_repr(self) -> str:
        """Show the output width."""
        return f"out_channels={self.out_channels}"


def identity_for(layer: nn.Module) -> nn.Module:
    """The parameter-free, shape-preserving stand-in for one quantum layer."""
    if isinstance(layer, ParallelQuantumLayer):
        return nn.Identity()
    if isinstance(layer, Quanv2d):
        return PatchIdentity(layer.kernel_size, layer.stride)
    if isinstance(layer, QuantumPointwiseConv2d):
        return ChannelIdentity(layer.out_channels)
    raise ConfigurationError(f"No identity ablation is defined for {type(layer).__name__}.")


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
    if isinstance(network, _QUANTUM_LAYERS):
        return _ablate(network, mode)
    found = False
    for parent in list(network.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, _QUANTUM_LAYERS):
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

    The model sets ``self.quantum_block`` before calling ``ImageClassifier.__init__``, which
    builds the network and passes it through :meth:`configure_quantum_block`.
    """

    quantum_block: str = "trained"

    def configure_quantum_block(self, network: nn.Module) -> nn.Module:
        """Train, freeze or remove the network's quantum layers (see the module docstring)."""
        if self.quantum_block not in QUANTUM_BLOCK_MODES:
            raise ConfigurationError(
                f"quantum_block={self.quantum_block!r} is not a mode; use one of "
                f"{', '.join(QUANTUM_BLOCK_MODES)}."
            )
        return apply_quantum_block(network, self.quantum_block, type(self).__name__)
