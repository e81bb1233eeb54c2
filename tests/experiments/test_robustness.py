"""hqnn-pl-robustness: a trained checkpoint over shots and noise strengths."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from hqnn_pl.cli import main as hqnn_pl
from hqnn_pl.experiments.robustness import main
from tests.conftest import CONFIGS
from tests.harness import only_run


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


def _fails(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    with pytest.raises(SystemExit) as failed:
        main(list(args))
    assert failed.value.code == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("hqnn-pl-robustness: error: "), lines
    assert "repeat" not in captured.out  # refused before any evaluation
    return lines[0]


def test_an_out_that_is_a_file_is_refused_before_any_work(
    trained_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "taken").write_text("x")
    args = ["--config", str(trained_run / "config.yaml"),
            "--ckpt_path", str(trained_run / "checkpoints/last.ckpt"), "--shots", "5"]  # fmt: skip
    assert "is a file" in _fails(capsys, *args, "--out", str(tmp_path / "taken"))
    assert "cannot be written" in _fails(capsys, *args, "--out", str(tmp_path / "taken/below"))


def test_bad_checkpoints_are_one_line(
    trained_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    truncated = tmp_path / "truncated.ckpt"
    truncated.write_bytes((trained_run / "checkpoints/last.ckpt").read_bytes()[:5000])
    config = str(trained_run / "config.yaml")
    line = _fails(capsys, "--config", config, "--ckpt_path", str(truncated), "--out", "o")
    assert str(truncated) in line and "truncated" in line
    other = tmp_path / "other.yaml"
    other.write_text((CONFIGS / "quickstart.yaml").read_text().replace("depth: 3", "depth: 1"))
    line = _fails(
        capsys, "--config", str(other), "--ckpt_path",
        str(trained_run / "checkpoints/last.ckpt"), "--out", "o",
    )  # fmt: skip
    assert "depth: checkpoint 3, model 1" in line


CNN_ON_DIGITS = """\
seed_everything: 1
model:
  class_path: CNN
  init_args: {n_features: 8}
data:
  class_path: DigitsDataModule
  init_args: {image_size: 16, batch_size: 32}
"""


def test_a_classical_run_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "cnn.yaml"
    config.write_text(CNN_ON_DIGITS)
    hqnn_pl(["fit", "--config", str(config), "--trainer.max_epochs=1",
             "--trainer.limit_train_batches=1", "--trainer.limit_val_batches=1",
             "--test_after_fit=false", "--trainer.enable_progress_bar=false"])  # fmt: skip
    checkpoint = only_run() / "checkpoints/last.ckpt"
    line = _fails(capsys, "--config", str(config), "--ckpt_path", str(checkpoint), "--out", "o")
    assert "CNN, which has no quantum layer" in line
