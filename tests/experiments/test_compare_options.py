"""hqnn-pl-compare's --train_sizes, --tune and --margin: bad input fails in one line, untrained."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.experiments.helpers import CNN, compare, write_config

LR = "model.init_args.optimizer.init_args.lr: {low: 1e-3, high: 1e-1, log: true}\n"


def _refused(result, message: str, out: Path) -> None:
    assert result.returncode == 2, result.stderr[-2000:]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("hqnn-pl-compare: error: "), result.stderr
    assert message in lines[0]
    assert not (out / "runs").exists() and not (out / "tuning").exists()  # nothing trained


@pytest.mark.parametrize(
    ("args", "space", "message"),
    [
        (["--tune", "0"], LR, "--tune must be at least 1 trial per config, got 0"),
        (["--tune", "-2"], LR, "--tune must be at least 1 trial"),
        (["--tune", "2"], None, "--tune needs --search_space FILE"),
        ([], LR, "--search_space and --storage need --tune N"),
        (["--tune", "2"], "", "the search space is empty"),
        (["--tune", "2"], "lr: {low: 0.1, high: [\n", "not valid YAML"),
        (["--tune", "2"], "lr: {low: 0.1}\n", "low or high is missing"),
        (["--tune", "2", "--tune_seed", "1"], LR, "--tune_seed 1 is one of the evaluation seeds"),
        (["--margin", "0"], None, "--margin must be positive, got 0.0"),
        (["--margin", "-0.1"], None, "--margin must be positive"),
    ],
)
def test_bad_options_fail_before_anything_runs(
    tmp_path: Path, args: list[str], space: str | None, message: str
) -> None:
    config = write_config(tmp_path, "cnn", CNN)
    extra = []
    if space is not None:
        (tmp_path / "space.yaml").write_text(space)
        extra = ["--search_space", "space.yaml"]
    result = compare("--config", config, "--seeds", "2", "--out", "out", *args, *extra,
                     cwd=tmp_path, timeout=120)  # fmt: skip
    _refused(result, message, tmp_path / "out")


def test_a_search_key_missing_from_a_config_is_refused(tmp_path: Path) -> None:
    config = write_config(tmp_path, "cnn", CNN)
    (tmp_path / "space.yaml").write_text("model.init_args.optimizer.init_args.lrate: "
                                         "{low: 0.001, high: 0.1}\n")  # fmt: skip
    result = compare("--config", config, "--out", "out", "--tune", "2", "--search_space",
                     "space.yaml", cwd=tmp_path, timeout=300)  # fmt: skip
    _refused(
        result,
        "the key model.init_args.optimizer.init_args.lrate does not exist in config cnn",
        tmp_path / "out",
    )
    assert ", lr, " in result.stderr  # the keys that exist there


@pytest.mark.slow  # the configs are resolved and the data built in children: ~25 s each
@pytest.mark.parametrize(
    ("sizes", "message"),
    [
        (["100", "5000"], "train_subset 5000 is larger than the training split (1293 images)"),
        (["9", "100"], "train_subset 9 is too small to hold every class: the data has 10"),
    ],
)
def test_train_sizes_the_split_cannot_give_are_refused(
    tmp_path: Path, sizes: list[str], message: str
) -> None:
    config = write_config(tmp_path, "cnn", CNN)
    result = compare("--config", config, "--out", "out", "--train_sizes", *sizes,
                     cwd=tmp_path, timeout=300)  # fmt: skip
    _refused(result, f"--train_sizes: {message}", tmp_path / "out")
