"""RNGStateCheckpoint: torch, NumPy and Python random states in checkpoints, restored on resume."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import torch

from hqnn_pl.callbacks import RNGStateCheckpoint
from hqnn_pl.cli import main
from tests.harness import QUICK, QUICKSTART, fit, load_checkpoint


def draws() -> tuple[torch.Tensor, np.ndarray, float]:
    return torch.rand(4), np.random.rand(4), random.random()


def test_state_dict_round_trip_replays_the_same_random_numbers() -> None:
    callback = RNGStateCheckpoint()
    state = callback.state_dict()
    assert {"torch", "numpy", "python"} <= set(state)
    first = draws()
    draws()  # move every generator on
    RNGStateCheckpoint().load_state_dict(state)
    again = draws()
    assert torch.equal(first[0], again[0])
    assert np.array_equal(first[1], again[1])
    assert first[2] == again[2]


def test_every_checkpoint_holds_the_random_states(tmp_path: Path) -> None:
    fit("--test_after_fit=false")
    last = load_checkpoint(tmp_path / "runs/quickstart/version_0/checkpoints/last.ckpt")
    (state,) = [v for k, v in last["callbacks"].items() if k == "RNGStateCheckpoint"]
    assert isinstance(state["torch"], torch.Tensor) and state["torch"].dtype == torch.uint8
    kind, keys, *_ = state["numpy"]
    assert kind == "MT19937" and keys.shape == (624,)
    assert isinstance(state["python"], tuple)
    # what the checkpoint holds restores: the generators replay from the saved point
    RNGStateCheckpoint().load_state_dict(state)
    first = draws()
    RNGStateCheckpoint().load_state_dict(state)
    again = draws()
    assert torch.equal(first[0], again[0]) and np.array_equal(first[1], again[1])


def test_one_epoch_plus_resume_equals_two_epochs_straight(tmp_path: Path) -> None:
    """Exact at epoch boundaries: RNGStateCheckpoint restores the random states with the loops.

    A shuffling DataLoader draws its permutation from torch's global generator each epoch, which
    Lightning does not save; the CLI's RNGStateCheckpoint does, so the resumed second epoch sees
    the batches of the uninterrupted run and the weights agree bit for bit.
    """
    common = [*QUICK, "--trainer.deterministic=true", "--test_after_fit=false"]
    straight_name = "--trainer.logger.init_args.name=straight"
    main(["fit", "--config", QUICKSTART, *common, "--trainer.max_epochs=2", straight_name])
    resumed = [*common, "--trainer.logger.init_args.name=resumed"]
    main(["fit", "--config", QUICKSTART, *resumed, "--trainer.max_epochs=1"])
    main(["fit", "--config", QUICKSTART, *resumed, "--trainer.max_epochs=2", "--ckpt_path=last"])
    straight = load_checkpoint(tmp_path / "runs/straight/version_0/checkpoints/last.ckpt")
    again = load_checkpoint(tmp_path / "runs/resumed/version_0/checkpoints/last.ckpt")
    assert straight["global_step"] == again["global_step"] == 6
    for key, value in straight["state_dict"].items():
        assert torch.equal(value, again["state_dict"][key]), key
    moments = [c["optimizer_states"][0]["state"][0]["exp_avg"] for c in (straight, again)]
    assert torch.equal(*moments)
