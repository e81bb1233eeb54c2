"""The papers' own figures, keyed by config, printed next to ours in a comparison's report."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PaperFigure:
    """A published result for the model of a config.

    Attributes:
        value: The figure as published (test accuracy unless it says otherwise).
        dataset: The dataset it was measured on (not always the config's).
        source: The paper.
    """

    value: str
    dataset: str
    source: str

    def __str__(self) -> str:
        return f"paper: {self.value} ({self.dataset}; {self.source})"


_SENOKOSOV = "Senokosov et al. 2024"
_QUANV = "Senokosov et al. 2024, 500/100 images, 10 seeds"
_WATT = "Watt et al. 2026"

#: Published figures by config path below ``configs/``. Senokosov et al. report no Fashion-MNIST
#: results: the Fashion-MNIST configs of their models show the paper's MNIST figures, named so.
PAPER_FIGURES: dict[str, PaperFigure] = {
    "mnist/hqnn_parallel.yaml": PaperFigure("99.21%", "MNIST", _SENOKOSOV),
    "mnist/cnn.yaml": PaperFigure("98.71%", "MNIST", _SENOKOSOV),
    "mnist/hqnn_quanv.yaml": PaperFigure("0.67 +- 0.01", "MNIST", _QUANV),
    "mnist/cnn1.yaml": PaperFigure("0.53 +- 0.02", "MNIST", _QUANV),
    "mnist/cnn4.yaml": PaperFigure("0.66 +- 0.02", "MNIST", _QUANV),
    "fashion_mnist/hqnn_parallel.yaml": PaperFigure("99.21%", "MNIST", _SENOKOSOV),
    "fashion_mnist/cnn.yaml": PaperFigure("98.71%", "MNIST", _SENOKOSOV),
    "fashion_mnist/hqnn_quanv.yaml": PaperFigure("0.67 +- 0.01", "MNIST", _QUANV),
    "fashion_mnist/cnn1.yaml": PaperFigure("0.53 +- 0.02", "MNIST", _QUANV),
    "fashion_mnist/cnn4.yaml": PaperFigure("0.66 +- 0.02", "MNIST", _QUANV),
    "fashion_mnist/qpcnn.yaml": PaperFigure(
        "ahead of its CNN, no number given", "Fashion-MNIST", "Ning et al. 2024"
    ),
    "cifar10/hqnn_parallel.yaml": PaperFigure("82.78%", "CIFAR-10", _SENOKOSOV),
    "cifar10/cnn.yaml": PaperFigure("82.64%", "CIFAR-10", _SENOKOSOV),
    "cifar10/qpcnn.yaml": PaperFigure(
        "ahead of its CNN, no number given", "CIFAR-10", "Ning et al. 2024"
    ),
    "medical_mnist/hqnn_parallel.yaml": PaperFigure("99.97%", "Medical MNIST", _SENOKOSOV),
    "medical_mnist/cnn.yaml": PaperFigure("99.96%", "Medical MNIST", _SENOKOSOV),
    "cars/resnet50_hqnn.yaml": PaperFigure("top-1 0.21%", "Stanford Cars", _WATT),
    "cars/resnet50.yaml": PaperFigure("top-1 35.78%", "Stanford Cars", _WATT),
}


def paper_figure(relative_path: str) -> PaperFigure | None:
    """The published figure for a config (its path below ``configs/``), if there is one."""
    return PAPER_FIGURES.get(relative_path)
