"""CircuitDrawer: text and matplotlib drawings of the model's circuits, before and after fitting."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import torch
from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.utilities import rank_zero_info, rank_zero_only, rank_zero_warn
from torch import Tensor, nn

from hqnn_pl.callbacks.utils import quantum_layers, run_dir, wandb_guard, wandb_loggers
from hqnn_pl.quantum.devices.report import export_circuits

Stage = Literal["start", "trained"]


def _file_stem(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name) or "circuit"


def circuit_count(layer: Any) -> int:
    """Number of parallel circuits of a layer, each with its own weights (1 for most layers)."""
    return int(getattr(layer, "n_circuits", 1))


def circuit_args(layer: Any, circuit: int) -> tuple[Tensor, Tensor]:
    """The layer's example inputs and the weights of one of its circuits.

    Args:
        layer: A quantum layer with ``example_args()`` (circuit 0's weights).
        circuit: Circuit index, ``0 <= circuit < circuit_count(layer)``.

    Returns:
        ``(inputs, weights)`` as detached float64 CPU tensors.
    """
    inputs, weights = layer.example_args()
    if circuit_count(layer) > 1:  # the spec's weights, as its qfunc takes them
        weights = layer.circuit_spec().circuit_weights[circuit].detach().to("cpu", torch.float64)
    return inputs, weights


class CircuitDrawer(Callback):
    """Draw every quantum circuit of the model when fitting starts and again with trained weights.

    For every circuit ``<c>`` of every quantum layer (each of the parallel circuits of a
    ``ParallelQuantumLayer`` with its own weights) the callback writes
    ``circuits/<layer>.circuit<c>.example_inputs.<stage>.txt`` (``qml.draw``) and ``.png``
    (``qml.draw_mpl``) into the run folder, where ``<stage>`` is ``start`` at fit start and
    ``trained`` at fit end, and optionally ``...trained.qasm`` (OpenQASM 2.0 of the trained
    circuit). Circuits take data as inputs, so they are drawn with the layer's placeholder
    example inputs (``0.1, 0.2, ...``), as the file names say; the text drawing and the picture's
    title state them. The circuits are the layers' own
    PennyLane definitions, drawn on the layer's QNode with the ``pennylane`` backend and on an
    exact ``default.qubit`` QNode with the ``torch`` backend, so both backends draw the same
    circuit. With a ``WandbLogger`` the pictures are also logged as ``circuits/<layer>``. Runs on
    rank zero only; a drawing that fails is a warning, never a failed run.

    From YAML::

        trainer:
          callbacks:
            - class_path: hqnn_pl.callbacks.CircuitDrawer
              init_args: {openqasm: true}

    Args:
        decimals: Decimals of the gate angles in the drawings; None hides the angles.
        level: Decomposition level passed to ``qml.draw``/``qml.draw_mpl``: ``"device"`` shows
            the gates the device runs (rotations and CNOTs), ``"top"`` the templates.
        style: ``qml.draw_mpl`` style, e.g. ``"black_white"``, ``"pennylane"``, ``"sketch"``.
        dpi: Resolution of the PNG pictures.
        openqasm: Also export the trained circuits as OpenQASM 2.0.
        max_length: Line width of the text drawings before they wrap.
    """

    def __init__(
        self,
        decimals: int | None = 2,
        level: Literal["top", "user", "gradient", "device"] = "device",
        style: str = "black_white",
        dpi: int = 120,
        openqasm: bool = False,
        max_length: int = 200,
    ) -> None:
        super().__init__()
        self.decimals = decimals
        self.level = level
        self.style = style
        self.dpi = dpi
        self.openqasm = openqasm
        self.max_length = max_length
        self.written: list[Path] = []

    @rank_zero_only
    def on_fit_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Draw the circuits with their initial (or resumed) weights."""
        layers = quantum_layers(pl_module)
        if not layers:
            rank_zero_info(f"CircuitDrawer: {type(pl_module).__name__} has no quantum layers.")
            return
        self._draw_all(trainer, layers, "start")
        try:  # the circuits as a device runs them (device noise): OpenQASM 3 and their sizes
            export_circuits(pl_module, run_dir(trainer) / "circuits")
        except Exception as error:  # a drawing must never fail a training run
            rank_zero_warn(f"CircuitDrawer: could not export the compiled circuits: {error}")

    @rank_zero_only
    def on_fit_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Draw the circuits with their trained weights (and export OpenQASM if asked)."""
        layers = quantum_layers(pl_module)
        if layers:
            self._draw_all(trainer, layers, "trained")

    def _draw_all(
        self, trainer: Trainer, layers: list[tuple[str, nn.Module]], stage: Stage
    ) -> None:
        folder = run_dir(trainer) / "circuits"
        folder.mkdir(parents=True, exist_ok=True)
        images: dict[str, list[Path]] = {}
        for name, layer in layers:
            for circuit in range(circuit_count(layer)):
                stem = folder / f"{_file_stem(name)}.circuit{circuit}.example_inputs.{stage}"
                try:
                    png = self.draw(layer, stem, circuit)
                except Exception as error:  # a drawing must never fail a training run
                    rank_zero_warn(
                        f"CircuitDrawer: could not draw circuit {circuit} of {name} "
                        f"({type(layer).__name__}): {type(error).__name__}: {error}"
                    )
                    continue
                images.setdefault(name, []).append(png)
                if stage == "trained" and self.openqasm:
                    qasm = stem.with_suffix(stem.suffix + ".qasm")
                    self.export_openqasm(layer, qasm, name, circuit)
        for logger in wandb_loggers(trainer):
            if not images:
                break
            with wandb_guard("log the circuit pictures"):
                for name, pngs in images.items():
                    logger.log_image(
                        key=f"circuits/{name}",
                        images=[str(png) for png in pngs],
                        step=trainer.global_step,
                        caption=[f"{name} circuit {c} ({stage})" for c in range(len(pngs))],
                    )

    def draw(self, layer: Any, stem: Path, circuit: int = 0) -> Path:
        """Write the text drawing and the picture of one circuit of a layer.

        Args:
            layer: A quantum layer with ``qnode()`` and ``example_args()``.
            stem: Path without suffix; ``.txt`` and ``.png`` are appended.
            circuit: Which of the layer's parallel circuits (its weights) to draw.

        Returns:
            The path of the picture.
        """
        import matplotlib.pyplot as plt
        import pennylane as qml

        qnode = layer.qnode()
        args = circuit_args(layer, circuit)
        text = qml.draw(
            qnode, decimals=self.decimals, level=self.level, max_length=self.max_length
        )(*args)
        inputs = ", ".join(f"{v:.3g}" for v in args[0].tolist())
        caption = (
            f"circuit {circuit} of {circuit_count(layer)}, its own weights; placeholder example "
            f"inputs (not data): {inputs}"
        )
        txt = stem.with_suffix(stem.suffix + ".txt")
        txt.write_text(f"# {caption}\n{text}\n")
        png = stem.with_suffix(stem.suffix + ".png")
        figure, _ = qml.draw_mpl(qnode, decimals=self.decimals, level=self.level, style=self.style)(
            *args
        )
        figure.suptitle(caption, fontsize=8)
        try:
            figure.savefig(png, dpi=self.dpi, bbox_inches="tight")
        finally:
            plt.close(figure)
        self.written += [txt, png]
        return png

    def export_openqasm(self, layer: Any, path: Path, name: str, circuit: int = 0) -> None:
        """Write OpenQASM 2.0 of one circuit of a layer with its weights (warn on failure).

        QASM has no classical inputs: the placeholder example inputs' embedding is included.

        Args:
            layer: A quantum layer with ``qnode()`` and ``example_args()``.
            path: Where to write the ``.qasm`` file.
            name: The layer's module name, for the warning.
            circuit: Which of the layer's parallel circuits to export.
        """
        import pennylane as qml

        try:
            qasm = qml.to_openqasm(layer.qnode())(*circuit_args(layer, circuit))
        except Exception as error:
            rank_zero_warn(
                f"CircuitDrawer: could not export {name} as OpenQASM: {type(error).__name__}: "
                f"{error}"
            )
            return
        path.write_text(qasm)
        self.written.append(path)
