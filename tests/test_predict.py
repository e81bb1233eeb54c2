"""``hqnn-pl predict``: true labels next to predictions, in the run folder, never untrained."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from hqnn_pl.cli import main
from tests.harness import QUICKSTART

RUN = Path("runs/quickstart/version_0")


@pytest.mark.parametrize("subcommand", ["predict", "test", "validate"])
def test_evaluating_without_a_checkpoint_is_refused(
    subcommand: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as failed:
        main([subcommand, "--config", QUICKSTART])
    assert failed.value.code == 2
    err = capsys.readouterr().err
    assert "--ckpt_path" in err and "--allow_untrained" in err
    assert not Path("runs").exists()


def test_untrained_predictions_on_purpose(tmp_path: Path) -> None:
    main(
        [
            "predict", "--config", QUICKSTART, "--allow_untrained=true",
            "--trainer.limit_predict_batches=1", "--trainer.enable_progress_bar=false",
        ]
    )  # fmt: skip
    rows = list(csv.DictReader((tmp_path / "predictions.csv").open()))
    assert len(rows) == 32 and "label" in rows[0]
