"""Regenerate docs/models/generated/: each model's parameter counts and circuit drawing.

Run from the repository root: ``python docs/models/generate.py``. For every config below it builds
the model exactly as ``hqnn-pl`` does (``hqnn_pl.run.load_model_and_data``: the config's seed, its
datamodule's classes, channels and image size linked in, no data read), counts its parameters
with ``ParameterCount``'s function and draws circuit 0 of each quantum layer with ``CircuitDrawer``
(placeholder inputs, initial weights). It writes ``<config>.md`` (included by
docs/configs-and-models.md) and the text drawings as ``<config>.<layer>.txt``. The car configs
need a folder of class subfolders; an empty stand-in is made (no image is read) and ResNet-50's
ImageNet weights are not downloaded (they change no count).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from PIL import Image

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from hqnn_pl.callbacks import CircuitDrawer  # noqa: E402
from hqnn_pl.callbacks.parameter_count import count_parameters  # noqa: E402
from hqnn_pl.callbacks.utils import quantum_layers  # noqa: E402
from hqnn_pl.run.loading import load_model_and_data  # noqa: E402

OUT = REPO / "docs" / "models" / "generated"

#: (config, extra overrides needing the stand-in folder: None, "cars5" or "cars196")
CONFIGS = [
    ("mnist/hqnn_parallel", None),
    ("mnist/cnn", None),
    ("mnist/hqnn_quanv", None),
    ("mnist/cnn1", None),
    ("mnist/cnn4", None),
    ("fashion_mnist/qpcnn", None),
    ("fashion_mnist/pointwise_cnn", None),
    ("cifar10/hqnn_parallel", None),
    ("cifar10/cnn", None),
    ("cifar10/qpcnn", None),
    ("cifar10/pointwise_cnn", None),
    ("medical_mnist/hqnn_parallel", None),
    ("medical_mnist/cnn", None),
    ("cars/random_quanv", "cars5"),
    ("cars/pixels_baseline", "cars5"),
    ("cars/resnet50_hqnn", "cars196"),
    ("cars/resnet50", "cars196"),
]


def stand_in(root: Path, name: str, classes: int) -> Path:
    """A folder of ``classes`` class subfolders with one tiny image each."""
    for c in range(classes):
        folder = root / name / f"class_{c:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (8, 8)).save(folder / "a.jpg")
    return root / name


def write(config: str, overrides: list[str]) -> None:
    """Write ``<config>.md`` and the circuit drawings of one config."""
    run = load_model_and_data([REPO / "configs" / f"{config}.yaml"], overrides=overrides)
    model = run.model
    if hasattr(model, "configure_model"):
        model.configure_model()
    stem = config.replace("/", "_")
    counts = count_parameters(model)
    lines = [
        f"**`configs/{config}.yaml`**: `{type(model).__name__}`, "
        f"{counts['total']:,} parameters ({counts['trainable']:,} trainable, "
        f"{counts['quantum']:,} of them circuit weights; {counts['frozen']:,} frozen).",
        "",
    ]
    drawer = CircuitDrawer()
    for name, layer in quantum_layers(model):
        picture = drawer.draw(layer, OUT / f"{stem}.{name}")
        picture.unlink()  # the text drawing is what the page shows
        text = picture.with_suffix(".txt").read_text().splitlines()
        lines += [
            f"Quantum layer `{name}` (`{type(layer).__name__}`), initial weights"
            f" (seed {run.seed}), {text[0].lstrip('# ')}:",
            "",
            "```text",
            *text[1:],
            "```",
            "",
        ]
    (OUT / f"{stem}.md").write_text("\n".join(lines).rstrip() + "\n")
    print(f"wrote {stem}.md")


def main() -> None:
    """Regenerate every config's page fragment."""
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        extra = {
            None: [],
            "cars5": ["--data.init_args.data_dir", str(stand_in(root, "cars5", 5))],
            "cars196": [
                "--data.init_args.data_dir",
                str(stand_in(root, "cars196", 196)),
                "--model.init_args.weights",
                "null",
            ],
        }
        for config, needs in CONFIGS:
            write(config, extra[needs])


if __name__ == "__main__":
    main()
