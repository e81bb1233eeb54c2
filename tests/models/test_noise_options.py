"""Every quantum model takes noise, shots and shot_gradients from the CLI (issue 12)."""

from __future__ import annotations

import pytest

from hqnn_pl.cli import main
from hqnn_pl.models import HQNNParallel
from hqnn_pl.models.base import RUNTIME_KEYS
from tests.conftest import CONFIGS

NOISE = "{depolarizing: 0.01, amplitude_damping: 0.002, readout: 0.02}"


def test_noisy_sampled_fit_runs_from_the_cli() -> None:
    main(
        [
            "fit",
            "--config",
            str(CONFIGS / "quickstart.yaml"),
            "--trainer.fast_dev_run",
            "true",
            "--model.init_args.noise",
            NOISE,
            "--model.init_args.shots",
            "50",
            "--model.init_args.shot_gradients",
            "exact",  # parameter-shift is tested on the layers (a fit step here takes ~40 s)
        ]
    )


def test_bad_noise_key_exits_2_listing_the_valid_keys(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(
            [
                "fit",
                "--config",
                str(CONFIGS / "quickstart.yaml"),
                "--model.init_args.noise",
                "{depolarising: 0.01}",
            ]
        )
    assert exit_info.value.code == 2
    assert "valid keys: depolarizing, amplitude_damping, readout" in capsys.readouterr().err


def test_noise_and_shots_are_runtime_settings_of_a_checkpoint() -> None:
    assert {"noise", "shots", "shot_gradients"} <= RUNTIME_KEYS
    model = HQNNParallel(num_classes=10, in_channels=1, image_size=8, noise={"readout": 0.1})
    assert model.network.middle.noise.readout == 0.1
