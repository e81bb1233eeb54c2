"""The base of every hybrid model: an image classifier whose network holds quantum layers."""

from __future__ import annotations

from typing import Any

from hqnn_pl.models.ablation import QuantumBlock, QuantumBlockMixin
from hqnn_pl.models.base import ImageClassifier
from hqnn_pl.quantum.execution import DEFAULT_EXECUTION, Execution

__all__ = ["HybridClassifier"]


class HybridClassifier(QuantumBlockMixin, ImageClassifier):
    """An :class:`~hqnn_pl.models.ImageClassifier` with quantum layers: execution and ablation.

    The arguments every hybrid model shares, documented once: a model passes them on with
    ``**kwargs`` (the CLI and ``--model.help`` list them with the model's own).

    Args:
        num_classes: Number of classes (linked from the datamodule).
        in_channels: Input image channels (linked from the datamodule).
        image_size: Input image side in pixels (linked from the datamodule).
        execution: How the circuits run: backend, device, diff_method, shots,
            shot_gradients, noise, method, route (see :class:`~hqnn_pl.quantum.Execution`), e.g.
            ``execution: {shots: 1000, noise: {depolarizing: 0.01}}``.
        quantum_block: ``trained``, ``frozen`` (circuit weights stay at their seeded initial
            values) or ``identity`` (circuit replaced by a shape-preserving identity); see
            :mod:`hqnn_pl.models.ablation`.
        **kwargs: ``optimizer`` (Adam by default) and ``lr_scheduler`` (see
            :class:`~hqnn_pl.models.ImageClassifier`).
    """

    def __init__(
        self,
        num_classes: int,
        in_channels: int,
        image_size: int,
        execution: Execution = DEFAULT_EXECUTION,
        quantum_block: QuantumBlock = "trained",
        **kwargs: Any,
    ) -> None:
        # execution and quantum_block are read from the hyperparameters that ImageClassifier saves
        # from this frame's arguments, so they must stay local variables here (no ``del``).
        # ``kwargs`` go on along the MRO: ImageClassifier's optimizer and lr_scheduler, and the
        # settings of a second base (e.g. the ResNet models' backbone).
        super().__init__(num_classes, in_channels, image_size, **kwargs)
