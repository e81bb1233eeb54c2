"""Bad command lines are one line on stderr, naming the key or file, with status 2."""

from __future__ import annotations

import pytest

from hqnn_pl.cli import main
from tests.harness import QUICKSTART


def one_line_error(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    with pytest.raises(SystemExit) as failed:
        main(list(args))
    assert failed.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err  # no usage, no traceback
    assert err[0].startswith("hqnn-pl: error: ")
    return err[0]


def test_a_missing_config_file_is_named(capsys: pytest.CaptureFixture[str]) -> None:
    line = one_line_error(capsys, "fit", "--config", "no_such.yaml")
    assert "--config" in line and "no_such.yaml: no such file" in line


def test_a_misspelled_trainer_key_gets_the_nearest_valid_one(
    capsys: pytest.CaptureFixture[str],
) -> None:
    line = one_line_error(capsys, "fit", "--config", QUICKSTART, "--trainer.max_epocs", "1")
    assert "--trainer.max_epocs: no such option; did you mean --trainer.max_epochs" in line


def test_a_value_of_the_wrong_type_names_key_value_and_type(
    capsys: pytest.CaptureFixture[str],
) -> None:
    line = one_line_error(capsys, "fit", "--config", QUICKSTART, "--trainer.max_epochs", "one")
    assert "--trainer.max_epochs one: expected int" in line
    line = one_line_error(capsys, "fit", "--config", QUICKSTART, "--data.init_args.batch_size=x")
    assert "--data.init_args.batch_size x: expected int" in line


def test_a_class_argument_of_the_wrong_type(capsys: pytest.CaptureFixture[str]) -> None:
    line = one_line_error(capsys, "fit", "--config", QUICKSTART, "--model.init_args.depth", "deep")
    assert "--model.init_args.depth deep: expected int" in line
    assert "--model.help HQNNParallel" in line


def test_a_class_argument_before_the_config(capsys: pytest.CaptureFixture[str]) -> None:
    line = one_line_error(capsys, "fit", "--model.init_args.depth", "2", "--config", QUICKSTART)
    assert "--model.init_args.depth 2" in line and "give --config" in line


def test_lightnings_own_refusals_are_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    line = one_line_error(capsys, "fit", "--config", QUICKSTART, "--trainer.max_epochs=-5")
    assert "max_epochs" in line and "-5" in line


def test_a_former_flat_execution_key_names_its_new_place(
    capsys: pytest.CaptureFixture[str],
) -> None:
    line = one_line_error(capsys, "fit", "--config", QUICKSTART, "--model.init_args.shots", "100")
    assert "use --model.init_args.execution.shots" in line
