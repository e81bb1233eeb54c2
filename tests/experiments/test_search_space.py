from __future__ import annotations

import re
from pathlib import Path

import optuna
import pytest

from hqnn_pl.errors import ConfigurationError
from hqnn_pl.experiments.search_space import (
    check_keys,
    load_search_space,
    override_args,
    suggest,
)

SPACE = """\
model.init_args.optimizer.init_args.lr: {low: 1e-4, high: 1e-2, log: true}
model.init_args.n_features: {low: 4, high: 16, step: 4}
data.init_args.batch_size: {choices: [16, 32]}
"""


def _space(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "space.yaml"
    path.write_text(text)
    return path


def test_ranges_and_choices_are_read_with_their_kinds(tmp_path: Path) -> None:
    space = load_search_space(_space(tmp_path, SPACE))
    lr = space["model.init_args.optimizer.init_args.lr"]
    assert (lr.kind, lr.low, lr.high, lr.log) == ("float", 1e-4, 1e-2, True)  # "1e-4" is text
    features = space["model.init_args.n_features"]
    assert (features.kind, features.step) == ("int", 4)
    assert space["data.init_args.batch_size"].choices == (16, 32)
    assert lr.as_dict() == {"low": 1e-4, "high": 1e-2, "log": True}


def test_suggestions_stay_in_the_space_and_become_cli_overrides(tmp_path: Path) -> None:
    space = load_search_space(_space(tmp_path, SPACE))
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(5):
        values = suggest(study.ask(), space)
        assert 1e-4 <= values["model.init_args.optimizer.init_args.lr"] <= 1e-2
        assert values["model.init_args.n_features"] in (4, 8, 12, 16)
        assert values["data.init_args.batch_size"] in (16, 32)
    args = override_args({"a.b": 0.001, "c": True, "d": "adam", "e": None}, ["e", "a.b", "c", "d"])
    assert args == ["--e=null", "--a.b=0.001", "--c=true", "--d=adam"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "the search space is empty"),
        ("{}", "the search space is empty"),
        ("a: [1, 2\n", "not valid YAML"),
        ("- 1\n- 2\n", "expected a mapping of CLI keys"),
        ("model.init_args.lr: 0.1\n", "expected {low: ..., high: ..."),
        ("model.init_args.lr: {low: 0.1}\n", "low or high is missing"),
        ("model.init_args.lr: {low: 0.1, high: 0.01}\n", "must be below high"),
        ("model.init_args.lr: {low: 0, high: 1, log: true}\n", "a log range needs low > 0"),
        ("model.init_args.lr: {low: 0.1, high: 1, scale: 2}\n", "unknown field scale"),
        ("model.init_args.lr: {low: a, high: 1}\n", "must be numbers"),
        ("model.init_args.act: {choices: []}\n", "choices must be a non-empty list"),
        ("model.init_args.act: {choices: [[1], [2]]}\n", "choices must be numbers, strings"),
        ("seed_everything: {low: 0, high: 9}\n", "holds fixed"),
        ("data.init_args.train_subset: {low: 10, high: 90}\n", "holds fixed"),
        ("--model.init_args.lr: {low: 0.1, high: 1}\n", "without the leading --"),
    ],
)
def test_bad_search_spaces_are_refused_in_one_line(tmp_path: Path, text: str, message: str):
    with pytest.raises(ConfigurationError, match=re.escape(message)) as error:
        load_search_space(_space(tmp_path, text))
    assert "\n" not in str(error.value)


def test_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="no such file"):
        load_search_space(tmp_path / "nowhere.yaml")


def test_keys_must_exist_in_every_config(tmp_path: Path) -> None:
    space = load_search_space(_space(tmp_path, "model.init_args.optimizer.init_args.lrr: "
                                               "{low: 0.1, high: 1}\n"))  # fmt: skip
    resolved = {"model": {"init_args": {"optimizer": {"init_args": {"lr": 0.01}}}}}
    with pytest.raises(ConfigurationError, match=r"key model\.init_args\.optimizer\.init_args\.lrr"
                       r" does not exist in config cnn .*it has: lr\)"):  # fmt: skip
        check_keys(space, {"hqnn": {"model": {"init_args": {"optimizer": {"init_args": {
            "lrr": 1}}}}}, "cnn": resolved})  # fmt: skip


def test_the_shipped_search_spaces_fit_the_fashion_mnist_configs() -> None:
    from hqnn_pl.experiments.plan import resolve_config
    from tests.conftest import CONFIGS

    spaces = sorted((CONFIGS / "search_spaces").glob("*.yaml"))
    assert spaces
    # every Fashion-MNIST config trains with Adam; one resolved config shows its keys
    configs = {
        "hqnn_parallel": resolve_config(str(CONFIGS / "fashion_mnist/hqnn_parallel.yaml"), [])
    }
    for path in spaces:
        space = load_search_space(path)
        assert space, path
        check_keys(space, configs)  # raises, naming the key, when a config lacks it
