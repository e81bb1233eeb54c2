"""hqnn-pl-robustness: a trained checkpoint over shots and noise strengths."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from hqnn_pl.cli import main as hqnn_pl
from hqnn_pl.experiments.robustness import main
from tests.conftest import CONFIGS


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("run")
    hqnn_pl(
        [
            "fit",
            "--config",
            str(CONFIGS / "quickstart.yaml"),
            "--trainer.max_epochs",
            "1",
            "--trainer.limit_train_batches",
            "2",
            "--trainer.limit_val_batches",
            "1",
            "--test_after_fit",
            "false",
            "--trainer.enable_progress_bar",
            "false",
            "--trainer.default_root_dir",
            str(folder),
            "--trainer.logger.init_args.save_dir",
            str(folder / "runs"),
        ]
    )
    return folder / "runs/quickstart/version_0"


def test_grid_writes_csv_markdown_and_plots(trained_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "rob"
    main(
        [
            "--config", str(trained_run / "config.yaml"),
            "--ckpt_path", str(trained_run / "checkpoints/last.ckpt"),
            "--out", str(out),
            "--shots", "5", "1000",
            "--depolarizing", "0.5",
            "--amplitude_damping", "0.01",
            "--readout", "0.5",
            "--repeats", "2",
            "--max_samples", "60",
        ]
    )  # fmt: skip
    rows = list(csv.DictReader((out / "robustness.csv").open()))
    kinds = [row["kind"] for row in rows]
    assert kinds.count("exact") == 1 and kinds.count("shots") == 4
    assert kinds.count("depolarizing") == 1  # noise without shots is exact: one evaluation
    acc = {(r["kind"], r["value"]): float(r["accuracy"]) for r in rows}
    # readout 0.5 flips every bit with probability 1/2: <Y> = 0 for every input, one class
    assert acc[("readout", "0.5")] < acc[("exact", "")] or acc[("exact", "")] <= 0.2
    assert "| shots | 1000 | 2 |" in (out / "robustness.md").read_text()
    for kind in ("shots", "depolarizing", "amplitude_damping", "readout"):
        assert (out / f"robustness_{kind}.png").stat().st_size > 1000


@pytest.mark.parametrize(
    "extra,message",
    [
        (["--depolarizing", "0.9"], "depolarizing=0.9 is outside [0, 0.75]"),
        (["--shots", "0"], "shots must be None (exact) or a positive int; got 0"),
        (["--readout", "1.5"], "readout=1.5 is outside [0, 1]"),
    ],
)
def test_bad_grid_exits_2(trained_run: Path, capsys, extra, message) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(
            [
                "--config", str(trained_run / "config.yaml"),
                "--ckpt_path", str(trained_run / "checkpoints/last.ckpt"),
                *extra,
            ]
        )  # fmt: skip
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_missing_checkpoint_exits_2(tmp_path: Path, capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--config", str(CONFIGS / "quickstart.yaml"), "--ckpt_path", str(tmp_path / "x")])
    assert exit_info.value.code == 2
    assert "No such file" in capsys.readouterr().err


def test_console_script_target_exists() -> None:
    text = (Path(__file__).parents[2] / "pyproject.toml").read_text()
    assert 'hqnn-pl-robustness = "hqnn_pl.experiments.robustness:main"' in text
    assert callable(main)
