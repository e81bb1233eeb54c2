"""The report of a comparison over training-set sizes, from run folders written here."""

from __future__ import annotations

import csv
from pathlib import Path

import matplotlib
import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests

from hqnn_pl.experiments.collect import collect
from hqnn_pl.experiments.figures import plot_learning_curve
from hqnn_pl.experiments.plan import Manifest, run_folder
from hqnn_pl.experiments.report import write_report

matplotlib.use("Agg")
import matplotlib.pyplot as plt

SIZES = (50, 200)
#: Test accuracy per (config, size), one per seed: cnn is close to hqnn at 50, better at 200.
ACC = {
    ("hqnn", 50): [0.60, 0.62, 0.61, 0.63],
    ("cnn", 50): [0.601, 0.618, 0.612, 0.629],
    ("hqnn", 200): [0.80, 0.81, 0.79, 0.82],
    ("cnn", 200): [0.86, 0.88, 0.85, 0.89],
}
MARGIN = 0.02


def _write_run(folder: Path, acc: float) -> None:
    folder.mkdir(parents=True)
    rows = [  # a finished run: training, validation and test rows
        "epoch,step,train/loss,val/acc,val/loss,test/acc,test/f1,test/loss",
        f"0,1,1.1,{acc - 0.01},1.0,,,",
        f"1,2,1.0,{acc},0.9,,,",
        f"1,2,,,,{acc},{acc - 0.05},0.5",
    ]
    (folder / "metrics.csv").write_text("\n".join(rows) + "\n")


@pytest.fixture
def out(tmp_path: Path) -> Path:
    manifest = Manifest(
        configs={
            label: {"path": f"{label}.yaml", "model": "M", "digest": label, "resolved": {}}
            for label in ("hqnn", "cnn")
        },
        extra=[],
        seeds=4,
        train_sizes=list(SIZES),
        margin=MARGIN,
        tuning={
            "trials": 3,
            "search_space": {
                "model.init_args.optimizer.init_args.lr": {"low": 1e-4, "high": 1e-2, "log": True}
            },
            "seed": 1000,
            "objective": "max val/acc",
            "sampler": "TPESampler(seed=1000)",
            "pruner": "MedianPruner",
            "storage": "sqlite://",
        },
        best={
            "hqnn/n50": {
                "study": "o/hqnn/n50",
                "params": {"model.init_args.optimizer.init_args.lr": 0.00123},
                "value": 0.7,
                "trial": 2,
                "budget": 3,
                "states": {"COMPLETE": 2, "PRUNED": 1},
                "seconds": 12.0,
            }
        },
    )
    manifest.save(tmp_path)
    for (label, size), values in ACC.items():
        for seed, acc in enumerate(values):
            _write_run(run_folder(tmp_path, label, seed, size), acc)
    return tmp_path


def test_results_per_size_with_holm_and_tost(out: Path) -> None:
    manifest = Manifest.load(out)
    text = write_report(out, manifest)
    with (out / "results.csv").open() as file:
        summary = {(r["config"], int(r["train_size"])): r for r in csv.DictReader(file)}
    assert set(summary) == set(ACC)
    for key, values in ACC.items():
        assert float(summary[key]["acc_mean"]) == pytest.approx(np.mean(values))
    with (out / "runs.csv").open() as file:
        runs = list(csv.DictReader(file))
    assert sorted({r["train_size"] for r in runs}) == ["200", "50"] and len(runs) == 16
    differences = {s: np.subtract(ACC[("cnn", s)], ACC[("hqnn", s)]) for s in SIZES}
    raw_t = [stats.ttest_rel(ACC[("cnn", s)], ACC[("hqnn", s)]).pvalue for s in SIZES]
    raw_tost = [
        max(stats.ttest_1samp(differences[s], -MARGIN, alternative="greater").pvalue,
            stats.ttest_1samp(differences[s], MARGIN, alternative="less").pvalue)
        for s in SIZES
    ]  # fmt: skip
    holm_t = multipletests(raw_t, method="holm")[1]
    holm_tost = multipletests(raw_tost, method="holm")[1]
    for i, size in enumerate(SIZES):
        row = next(line for line in text.splitlines()
                   if line.startswith(f"| cnn | {size} | test/acc |"))  # fmt: skip
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert float(cells[6]) == pytest.approx(holm_t[i], rel=1e-2)
        assert float(cells[8]) == pytest.approx(holm_tost[i], rel=1e-2)
    assert holm_t[1] == pytest.approx(2 * raw_t[1])  # corrected, not the raw p-value
    assert "50 training images: cnn vs hqnn (acc): equivalent within +-0.02 at n=4" in text
    assert "200 training images: cnn vs hqnn (acc): different: cnn is higher" in text
    assert "Holm-corrected over 2 sizes" in text
    assert "| TOST p (+-0.02) |" in text
    assert "![learning_curve](learning_curve.png)" in text
    assert (out / "learning_curve.png").read_bytes()[:4] == b"\x89PNG"
    assert "| hqnn | o/hqnn/n50 | lr=0.00123 | 0.7000 | 2 | 3 of 3 (2 complete, 1 pruned) |" in text


def test_inconclusive_in_words_at_few_seeds(out: Path) -> None:
    manifest = Manifest.load(out)
    manifest.margin = 0.001  # too tight to show equivalence at 50 images
    text = write_report(out, manifest)
    assert "50 training images: cnn vs hqnn (acc): inconclusive at n=4" in text


def test_learning_curve_has_log_x_means_and_t_bands(out: Path) -> None:
    groups = {s: collect(out, ["hqnn", "cnn"], [0, 1, 2, 3], s) for s in SIZES}
    fig, ax = plt.subplots()
    try:
        assert plot_learning_curve(ax, groups) == ["hqnn", "cnn"]
        assert ax.get_xscale() == "log"
        assert list(ax.lines[1].get_xdata()) == list(SIZES)
        assert np.allclose(ax.lines[1].get_ydata(), [np.mean(ACC[("cnn", s)]) for s in SIZES])
        band = ax.collections[1].get_paths()[0].vertices[:, 1]
        values = ACC[("cnn", 200)]
        low, high = stats.t.interval(0.95, 3, loc=np.mean(values), scale=stats.sem(values))
        assert band.min() == pytest.approx(
            min(stats.t.interval(0.95, 3, loc=np.mean(ACC[("cnn", 50)]),
                                 scale=stats.sem(ACC[("cnn", 50)]))[0], low))  # fmt: skip
        assert band.max() == pytest.approx(high)
    finally:
        plt.close(fig)
