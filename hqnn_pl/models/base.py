"""The LightningModule every hqnn-pl classifier inherits: loss, metrics, optimiser, logging."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import torch
import torch.nn.functional as F
from lightning.pytorch import LightningModule
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from lightning.pytorch.utilities import rank_zero_info
from torch import Tensor, nn
from torchmetrics import MetricCollection
from torchmetrics.classification import (
    MulticlassAccuracy,
    MulticlassConfusionMatrix,
    MulticlassF1Score,
)

from hqnn_pl.errors import ConfigurationError
from hqnn_pl.quantum.execution import as_execution
from hqnn_pl.quantum.layers import is_quantum_layer

#: Hyperparameters that fix a network's shape: a checkpoint only fits a model that agrees on them.
ARCHITECTURE_KEYS = ("num_classes", "in_channels", "image_size")
#: Hyperparameters a checkpoint may differ in: how to run and train, not what the network is
#: (``execution``: how the circuits run, see :class:`~hqnn_pl.quantum.Execution`).
RUNTIME_KEYS = frozenset({"optimizer", "lr_scheduler", "execution"})


def _comparable(value: Any) -> Any:
    """Treat lists and tuples alike (YAML gives lists where Python defaults are tuples)."""
    return [_comparable(item) for item in value] if isinstance(value, list | tuple) else value


class ImageClassifier(LightningModule, ABC):
    """Base class for image classifiers: cross-entropy, TorchMetrics per split, Adam by default.

    The constructor follows torchgeo's order: it saves every ``__init__`` argument of the
    concrete model as hyperparameters first (:attr:`hparams`, including an ``execution`` given
    as a mapping, turned into an :class:`~hqnn_pl.quantum.Execution`), then builds the network
    by :meth:`configure_network`, which reads its settings from :attr:`hparams`. Subclasses
    validate their arguments, call ``super().__init__`` and inherit the training loop.
    Metrics are logged under ``train/``, ``val/`` and ``test/``: ``loss``, ``acc`` (top-1),
    ``acc_top5`` (when there are more than 5 classes) and ``f1`` (macro); the test split also
    accumulates a confusion matrix, kept in :attr:`test_confusion_matrix` after testing.

    Args:
        num_classes: Number of classes. Linked from the datamodule by the CLI.
        in_channels: Channels of the input images. Linked from the datamodule by the CLI.
        image_size: Side of the (square) input images in pixels. Linked from the datamodule.
        optimizer: Optimiser factory, called with the model's parameters. From YAML:
            ``optimizer: {class_path: torch.optim.SGD, init_args: {lr: 0.01}}``.
        lr_scheduler: Optional learning-rate scheduler factory, called with the optimiser.
            ``ReduceLROnPlateau`` monitors ``val/loss``.
    """

    #: Hyperparameters a checkpoint may differ in (see :meth:`check_hyperparameters`).
    runtime_hparams: frozenset[str] = RUNTIME_KEYS

    def __init__(
        self,
        num_classes: int,
        in_channels: int,
        image_size: int,
        optimizer: OptimizerCallable = torch.optim.Adam,
        lr_scheduler: LRSchedulerCallable | None = None,
    ) -> None:
        super().__init__()
        for name, value in (
            ("num_classes", num_classes),
            ("in_channels", in_channels),
            ("image_size", image_size),
        ):
            if value < 1:
                raise ConfigurationError(f"{name} must be a positive integer, got {value}.")
        if num_classes < 2:
            raise ConfigurationError(f"num_classes must be at least 2, got {num_classes}.")
        self.save_hyperparameters()
        if "execution" in self.hparams:
            self.hparams["execution"] = as_execution(self.hparams["execution"])
        self.num_classes = num_classes
        self.in_channels = in_channels
        self.image_size = image_size
        self.optimizer = optimizer
        self.lr_scheduler = lr_scheduler
        self.network = self.configure_quantum_block(self.configure_network())
        self.configure_metrics()
        self.test_confusion_matrix: Tensor | None = None

    @abstractmethod
    def configure_network(self) -> nn.Module:
        """Build the network that maps images (B, C, H, W) to logits (B, num_classes).

        Called once by ``__init__`` after the hyperparameters are saved: read the model's
        settings from :attr:`hparams`.

        Returns:
            The network; it becomes :attr:`network`.
        """

    def configure_quantum_block(self, network: nn.Module) -> nn.Module:
        """Apply the ``quantum_block`` ablation to the built network (quantum models only).

        Classical models return the network unchanged; quantum models inherit
        :class:`~hqnn_pl.models.ablation.QuantumBlockMixin`, which freezes or removes the circuits.
        """
        return network

    def configure_metrics(self) -> None:
        """Create one MetricCollection per split and the test confusion matrix."""
        metrics: dict[str, Any] = {
            "acc": MulticlassAccuracy(self.num_classes, average="micro"),
            "f1": MulticlassF1Score(self.num_classes, average="macro"),
        }
        if self.num_classes > 5:
            metrics["acc_top5"] = MulticlassAccuracy(self.num_classes, top_k=5, average="micro")
        collection = MetricCollection(metrics)
        self.train_metrics = collection.clone(prefix="train/")
        self.val_metrics = collection.clone(prefix="val/")
        self.test_metrics = collection.clone(prefix="test/")
        self.confusion_matrix = MulticlassConfusionMatrix(self.num_classes)

    def forward(self, x: Tensor) -> Tensor:
        """Classify a batch of images.

        Args:
            x: Images of shape (B, in_channels, image_size, image_size).

        Returns:
            Logits of shape (B, num_classes).
        """
        return self.network(x)

    def _shared_step(self, batch: tuple[Tensor, Tensor], metrics: MetricCollection) -> Tensor:
        x, y = batch
        logits = self(x)
        loss = F.cross_entropy(logits, y)
        split = metrics.prefix
        if split == "train/":  # live value for the progress bar only; the logs get epoch means
            self.log("loss", loss, prog_bar=True, logger=False, batch_size=len(y))
        self.log(
            f"{split}loss",
            loss,
            on_step=False,
            on_epoch=True,
            batch_size=len(y),
            sync_dist=True,
            prog_bar=split == "val/",
        )
        metrics(logits, y)
        self.log_dict(metrics, on_step=False, on_epoch=True, batch_size=len(y))
        return loss if split == "train/" else logits

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        """Compute the loss of one batch and update the training metrics."""
        del batch_idx
        return self._shared_step(batch, self.train_metrics)

    def validation_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        """Update the validation loss and metrics with one batch."""
        del batch_idx
        self._shared_step(batch, self.val_metrics)

    def test_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        """Update the test loss, metrics and confusion matrix with one batch."""
        del batch_idx
        logits = self._shared_step(batch, self.test_metrics)
        self.confusion_matrix.update(logits, batch[1])

    def on_test_epoch_start(self) -> None:
        """Start a fresh confusion matrix for this test run."""
        self.confusion_matrix.reset()

    def on_test_epoch_end(self) -> None:
        """Keep the test confusion matrix (rows: true class, columns: predicted class)."""
        self.test_confusion_matrix = self.confusion_matrix.compute().cpu()

    def predict_step(
        self, batch: Tensor | tuple[Tensor, ...], batch_idx: int
    ) -> Tensor | dict[str, Tensor]:
        """Return class probabilities, with the true labels when the batch has them.

        Returns:
            ``{"probabilities": (B, num_classes), "labels": (B,)}`` for a labelled batch
            ``(images, labels)``, else the probabilities alone.
        """
        del batch_idx
        labelled = isinstance(batch, list | tuple) and len(batch) > 1
        x = batch[0] if isinstance(batch, list | tuple) else batch
        probabilities = self(x).softmax(dim=-1)
        if labelled:
            return {"probabilities": probabilities, "labels": batch[1]}
        return probabilities

    def parameter_groups(self) -> Any:
        """Return what the optimiser factory is called with: parameters or parameter groups.

        Override to give parts of the network their own learning rate.
        """
        return self.parameters()

    def check_optimizer(self) -> None:
        """Build the optimiser and scheduler once, so bad settings fail before the run starts.

        Raises:
            ConfigurationError: Naming torch's objection (a negative learning rate, a bad
                momentum, ...) and where to fix it.
        """
        try:
            optimizer = self.optimizer(self.parameter_groups())
            if self.lr_scheduler is not None:
                self.lr_scheduler(optimizer)
        except (ValueError, TypeError) as error:
            raise ConfigurationError(
                f"The optimiser or lr_scheduler settings are invalid ({error}). Fix "
                "model.init_args.optimizer / lr_scheduler, e.g. "
                "--model.init_args.optimizer.init_args.lr 0.001."
            ) from None

    def configure_optimizers(self) -> Any:
        """Build the optimiser (and scheduler) from the injected factories."""
        optimizer = self.optimizer(self.parameter_groups())
        if self.lr_scheduler is None:
            return optimizer
        scheduler = self.lr_scheduler(optimizer)
        config: dict[str, Any] = {"scheduler": scheduler}
        if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
            if not self._has_validation():
                raise ConfigurationError(
                    "ReduceLROnPlateau monitors val/loss, but the data has no validation split: "
                    "give it one (e.g. --data.init_args.val_fraction 0.1) or use another "
                    "lr_scheduler."
                )
            config["monitor"] = "val/loss"
        return {"optimizer": optimizer, "lr_scheduler": config}

    def _has_validation(self) -> bool:
        """Whether the trainer's datamodule has validation data (True when unknown)."""
        datamodule = getattr(self.trainer, "datamodule", None) if self._trainer else None
        return datamodule is None or getattr(datamodule, "val_dataset", True) is not None

    def setup(self, stage: str) -> None:
        """Fail early when the datamodule's images, classes or splits do not fit this run."""
        datamodule = getattr(self.trainer, "datamodule", None) if self._trainer else None
        if datamodule is None:
            return
        if stage == "fit" and not self._has_validation():
            monitors = sorted(
                str(callback.monitor)
                for callback in self.trainer.checkpoint_callbacks
                if str(getattr(callback, "monitor", None) or "").startswith("val/")
            )
            if monitors:
                raise ConfigurationError(
                    f"The checkpoint monitors {', '.join(monitors)}, but the data has no "
                    "validation split, so no best checkpoint could ever be saved. Set "
                    "--checkpoint.monitor null (keep the latest) or give the data a validation "
                    "split (e.g. --data.init_args.val_fraction 0.1)."
                )
        mismatches = [
            f"{key}: model has {getattr(self, key)}, data has {getattr(datamodule, key)}"
            for key in ARCHITECTURE_KEYS
            if getattr(datamodule, key, None) is not None
            and getattr(datamodule, key) != getattr(self, key)
        ]
        if mismatches:
            raise ConfigurationError(
                f"The model does not match the data ({'; '.join(mismatches)}). Let the CLI link "
                "these values from the datamodule (leave them out of the model's config) or "
                "change the data settings."
            )

    def check_hyperparameters(self, saved: dict[str, Any]) -> None:
        """Refuse hyperparameters (e.g. a checkpoint's) that build a different network.

        Backend settings and optimiser factories may differ: a checkpoint trained on one
        quantum backend loads on the other.

        Args:
            saved: Hyperparameters to compare with this model's.

        Raises:
            ConfigurationError: Naming every architecture setting that differs.
        """
        current = dict(self.hparams)
        differences = [
            f"{key}: checkpoint {saved[key]!r}, model {current[key]!r}"
            for key in sorted(saved.keys() & current.keys())
            if key not in self.runtime_hparams
            and not key.startswith("_")
            and _comparable(saved[key]) != _comparable(current[key])
        ]
        if differences:
            raise ConfigurationError(
                "The checkpoint was trained with a different model configuration ("
                + "; ".join(differences)
                + "). Use the config the checkpoint was trained with (its run folder holds "
                "config.yaml) or start a new run without --ckpt_path."
            )

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Refuse a checkpoint whose architecture differs from this model's, naming the keys."""
        self.check_hyperparameters(checkpoint.get("hyper_parameters", {}))

    def parameter_counts(self) -> dict[str, int]:
        """Count the trainable parameters, split into quantum (circuit weights) and classical.

        Returns:
            ``{"trainable": ..., "quantum": ..., "classical": ...}``.
        """
        trainable = sum(p.numel() for p in self.parameters() if p.requires_grad)
        quantum = sum(
            p.numel()
            for module in self.modules()
            if is_quantum_layer(module)
            for p in module.parameters()
            if p.requires_grad
        )
        return {"trainable": trainable, "quantum": quantum, "classical": trainable - quantum}

    def on_fit_start(self) -> None:
        """Report the exact parameter counts (Lightning's summary rounds them)."""
        counts = self.parameter_counts()
        frozen = sum(p.numel() for p in self.parameters()) - counts["trainable"]
        rank_zero_info(
            f"{type(self).__name__}: {counts['trainable']:,} trainable parameters "
            f"({counts['quantum']:,} quantum, {counts['classical']:,} classical)"
            + (f", {frozen:,} frozen" if frozen else "")
        )
