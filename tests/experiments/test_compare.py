"""hqnn-pl-compare end to end on scikit-learn's digits (2 configs x 2 seeds x 2 epochs)."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import matplotlib
import numpy as np
import pytest
import yaml
from scipy import stats

from hqnn_pl.experiments.collect import read_run
from hqnn_pl.experiments.figures import plot_curves
from tests.experiments.helpers import CNN, HQNN, compare, write_config

matplotlib.use("Agg")
import matplotlib.pyplot as plt

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    folder = tmp_path_factory.mktemp("compare")
    hqnn = write_config(folder, "hqnn", HQNN.format(block="trained"))
    cnn = write_config(folder, "cnn", CNN)
    result = compare(
        "--config", hqnn, cnn, "--seeds", "2", "--parallel", "2", "--out", "out", cwd=folder
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return folder / "out", result.stdout


def _runs(out: Path) -> list[dict[str, str]]:
    with (out / "runs.csv").open() as file:
        return list(csv.DictReader(file))


def test_report_files_and_statistics_match_scipy(finished) -> None:
    out, stdout = finished
    text = (out / "results.md").read_text()
    assert text in stdout  # the report is printed too
    runs = _runs(out)
    assert {(r["config"], r["seed"], r["status"]) for r in runs} == {
        (c, s, "finished") for c in ("hqnn", "cnn") for s in ("0", "1")
    }
    acc = {c: [float(r["test/acc"]) for r in runs if r["config"] == c] for c in ("hqnn", "cnn")}
    with (out / "results.csv").open() as file:
        summary = {row["config"]: row for row in csv.DictReader(file)}
    for config, values in acc.items():
        low, high = stats.t.interval(0.95, 1, loc=np.mean(values), scale=stats.sem(values))
        row = summary[config]
        assert float(row["acc_mean"]) == pytest.approx(np.mean(values))
        assert float(row["acc_std"]) == pytest.approx(np.std(values, ddof=1))
        assert (float(row["acc_ci_low"]), float(row["acc_ci_high"])) == pytest.approx((low, high))
        assert float(row["seconds_per_epoch"]) > 0
        assert f"[{low:.4f}, {high:.4f}]" in text
    assert int(summary["hqnn"]["params_quantum"]) == 24  # 2 circuits x 1 layer x 4 qubits x 3
    assert int(summary["cnn"]["params_quantum"]) == 0
    # The paired row of the markdown table holds scipy's p-values on the same numbers.
    row = next(line for line in text.splitlines() if line.startswith("| cnn | test/acc |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    t_p = stats.ttest_rel(acc["cnn"], acc["hqnn"]).pvalue
    differences = np.subtract(acc["cnn"], acc["hqnn"])
    if np.all(differences == differences[0]):
        pytest.skip("identical differences: tests undefined")
    assert float(cells[5]) == pytest.approx(t_p, rel=1e-2)
    wilcoxon_p = stats.wilcoxon(acc["cnn"], acc["hqnn"]).pvalue
    assert float(cells[6]) == pytest.approx(wilcoxon_p, rel=1e-2)
    assert "n=2" in text


def test_figures_are_pngs_with_one_curve_per_config(finished) -> None:
    out, _ = finished
    for name in ("curve_train_loss", "curve_val_loss", "curve_train_acc", "curve_val_acc",
                 "test_acc"):  # fmt: skip
        path = out / f"{name}.png"
        assert path.read_bytes()[:8] == PNG_MAGIC, name
        assert f"![{name}]({name}.png)" in (out / "results.md").read_text()
    results = {c: [read_run(c, s, out / "runs" / c / f"seed_{s}") for s in (0, 1)]
               for c in ("hqnn", "cnn")}  # fmt: skip
    fig, ax = plt.subplots()
    try:
        assert plot_curves(ax, results, "val/acc") == ["hqnn", "cnn"]
        assert len(ax.lines) == 2 and len(ax.collections) == 2  # mean lines and std bands
        with (out / "runs" / "cnn" / "seed_1" / "metrics.csv").open() as file:
            rows = [r for r in csv.DictReader(file) if r.get("val/acc")]
        seed1 = {int(r["epoch"]): float(r["val/acc"]) for r in rows}
        seed0 = results["cnn"][0].curves["val/acc"]
        expected = [(seed0[e] + seed1[e]) / 2 for e in sorted(seed1)]
        assert np.allclose(ax.lines[1].get_ydata(), expected)
        assert list(ax.lines[1].get_xdata()) == [1, 2]
    finally:
        plt.close(fig)


def test_rerun_skips_finished_runs_and_report_regenerates(finished) -> None:
    out, _ = finished
    folder = out.parent
    before = {p: p.stat().st_mtime_ns for p in out.glob("runs/*/seed_*/metrics.csv")}
    result = compare(
        "--config", "hqnn.yaml", "cnn.yaml", "--seeds", "2", "--out", "out", cwd=folder
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "4 of 4 runs finished before: skipped." in result.stdout
    assert {p: p.stat().st_mtime_ns for p in before} == before
    (out / "results.md").unlink()
    report = compare("--report", "out", cwd=folder)
    assert report.returncode == 0, report.stderr[-2000:]
    assert (out / "results.md").read_text() == report.stdout.rstrip("\n") + "\n"


def test_plan_only_writes_commands_and_a_sweep(tmp_path: Path) -> None:
    hqnn = write_config(tmp_path, "hqnn", HQNN.format(block="trained"))
    frozen = write_config(tmp_path, "frozen", HQNN.format(block="frozen"))
    result = compare(
        "--config", hqnn, frozen, "--seeds", "1", "--out", "plan_out", "--plan-only", "--",
        "--trainer.max_epochs", "1", cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert "--seeds 1 gives no spread" in result.stderr
    lines = (tmp_path / "plan_out/plan/commands.txt").read_text().splitlines()
    assert [re.search(r"--only (\S+)", line).group(1) for line in lines] == ["hqnn:0", "frozen:0"]
    assert all(line.endswith("-- --trainer.max_epochs 1") for line in lines)
    fits = (tmp_path / "plan_out/plan/fit_commands.txt").read_text()
    assert "OMP_NUM_THREADS=" in fits and "--seed_everything 0" in fits and "seed_0" in fits
    sweep = yaml.safe_load((tmp_path / "plan_out/plan/sweep.yaml").read_text())
    assert sweep["method"] == "grid"
    assert sweep["parameters"]["only"]["values"] == ["hqnn:0", "frozen:0"]
    assert "${args}" in sweep["command"]
    assert not (tmp_path / "plan_out/runs").exists()  # nothing trained


def test_bad_input_is_refused_in_one_line(tmp_path: Path) -> None:
    hqnn = write_config(tmp_path, "hqnn", HQNN.format(block="trained"))
    digits_16 = "data:\n  class_path: DigitsDataModule\n  init_args:\n    image_size: 16\n"
    other = write_config(tmp_path, "other", CNN, data=digits_16)
    result = compare("--config", hqnn, other, "--seeds", "2", "--out", "o", cwd=tmp_path)
    assert result.returncode == 2
    assert "disagree on the data" in result.stderr
    assert "data.init_args.image_size: hqnn has 8, other has 16" in result.stderr
    cnn = write_config(tmp_path, "cnn", CNN)
    ablated = compare(
        "--config", hqnn, cnn, "--out", "o", "--plan-only", "--",
        "--model.init_args.quantum_block", "frozen", cwd=tmp_path,
    )  # fmt: skip
    assert ablated.returncode == 2
    assert "cnn.yaml does not parse" in ablated.stderr and "quantum_block" in ablated.stderr
    first = compare("--config", hqnn, "--seeds", "2", "--out", "o", "--plan-only", cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-2000:]
    mixed = compare("--config", cnn, "--seeds", "2", "--out", "o", "--plan-only", cwd=tmp_path)
    assert mixed.returncode == 2
    assert "holds runs of other configs" in mixed.stderr and "hqnn" in mixed.stderr
    assert len(mixed.stderr.strip().splitlines()) == 1


def test_a_comparison_that_would_train_nothing_is_refused_before_any_run(tmp_path: Path) -> None:
    hqnn = write_config(tmp_path, "hqnn", HQNN.format(block="trained"))
    cnn = write_config(tmp_path, "cnn", CNN)
    result = compare(
        "--config", hqnn, cnn, "--seeds", "2", "--out", "o", "--",
        "--trainer.max_epochs", "0", cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 2
    assert "--trainer.max_epochs 0: this fit would train no step" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "o/runs").exists()  # no run started
