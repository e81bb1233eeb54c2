import json
from pathlib import Path

import matplotlib.pyplot as plt
import pytest
import torch

from hqnn_pl.analysis.cli import build_model, main
from tests.conftest import CONFIGS

QUICKSTART = CONFIGS / "quickstart.yaml"
SMALL = [
    "--fourier_draws",
    "10",
    "--pairs",
    "750",
    "--entangling_samples",
    "50",
    "--gradient_samples",
    "20",
    "--gradient_qubits",
    "2-3",
    "--gradient_depths",
    "1,2",
]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_help_names_every_option(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for option in ("--config", "--ckpt_path", "--out", "--skip", "--pairs", "--gradient_qubits"):
        assert option in text


def test_pyproject_entry_point_exists() -> None:
    import tomllib

    scripts = tomllib.loads((CONFIGS.parent / "pyproject.toml").read_text())["project"]["scripts"]
    module, _, function = scripts["hqnn-pl-diagnose"].partition(":")
    assert getattr(__import__(module, fromlist=[function]), function) is main


def test_diagnose_quickstart_writes_report_and_figures(tmp_path: Path) -> None:
    main(["--config", str(QUICKSTART), "--out", str(tmp_path), *SMALL])
    report = json.loads((tmp_path / "diagnostics.json").read_text())
    layer = report["layers"]["network.middle"]
    assert layer["n_circuits"] == 4 and len(layer["fourier"]["actual"]) == 4
    assert layer["zx"]["redundant"] is False and layer["zx"]["exact"] is True
    assert 0 < layer["expressibility"]["kl_to_haar"] < 0.2
    assert 0 < layer["entangling_capability"]["mean_meyer_wallach"] < 1
    assert len(layer["gradient_variance"]["variance"]) == 2
    for key in ("fourier", "zx", "expressibility", "gradient_variance"):
        assert (tmp_path / layer[key]["figure"]).read_bytes()[:8] == PNG_MAGIC
    markdown = (tmp_path / "diagnostics.md").read_text()
    assert "no parameter is redundant" in markdown and "Expressibility" in markdown
    assert plt.get_fignums() == []


def test_checkpoint_weights_are_diagnosed(tmp_path: Path) -> None:
    model, _ = build_model([QUICKSTART])
    with torch.no_grad():
        model.network.middle.weights.zero_()
    checkpoint = tmp_path / "trained.ckpt"
    torch.save({"state_dict": model.state_dict()}, checkpoint)
    out = tmp_path / "out"
    main(
        [
            "--config",
            str(QUICKSTART),
            "--ckpt_path",
            str(checkpoint),
            "--out",
            str(out),
            "--skip",
            "zx",
            "expressibility",
            "entangling_capability",
            "gradient_variance",
            "--fourier_draws",
            "5",
        ]
    )
    report = json.loads((out / "diagnostics.json").read_text())
    assert report["weights"].startswith("trained")
    # zero weights: Rot(0, 0, 0) is the identity, so output 4 is <Y> of RX(x4)|0> = -sin(x4),
    # which does not depend on x0 or x1: only c(0,0) is non-zero
    actual = report["layers"]["network.middle"]["fourier"]["actual"]["circuit_0"]
    assert all(abs(re) + abs(im) < 1e-12 for i, (re, im) in enumerate(actual) if i != 4)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--config", str(CONFIGS / "mnist/cnn.yaml")], "no quantum layer"),
        (["--config", str(QUICKSTART), "--pairs", "100"], "too few for a 75-bin histogram"),
        (["--config", str(QUICKSTART), "--fourier_draws", "1"], "--fourier_draws=1 is too small"),
        (["--config", "nowhere.yaml"], "no such file"),
    ],
    ids=["classical-model", "few-pairs", "few-draws", "missing-config"],
)
def test_bad_input_is_one_line_and_status_2(
    args: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([*args, "--out", str(tmp_path)])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert message in error and error.count("\n") == 1


def test_a_checkpoint_of_another_model_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    checkpoint = tmp_path / "other.ckpt"
    torch.save({"state_dict": {"something.else": torch.zeros(3)}}, checkpoint)
    with pytest.raises(SystemExit) as exit_info:
        main(["--config", str(QUICKSTART), "--ckpt_path", str(checkpoint), "--out", str(tmp_path)])
    assert exit_info.value.code == 2
    assert "does not fit the configured model" in capsys.readouterr().err


def test_an_out_that_is_a_file_or_a_truncated_checkpoint_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "taken").write_text("x")
    for args, message in [
        (["--out", str(tmp_path / "taken")], "is a file"),
        (["--out", str(tmp_path / "taken/below")], "cannot be written"),
    ]:
        with pytest.raises(SystemExit) as exit_info:
            main(["--config", str(QUICKSTART), "--only", "hardware_cost", *args])
        assert exit_info.value.code == 2
        error = capsys.readouterr().err
        assert message in error and error.count("\n") == 1
    truncated = tmp_path / "truncated.ckpt"
    torch.save({"state_dict": {"w": torch.zeros(1000)}}, truncated)
    truncated.write_bytes(truncated.read_bytes()[:3000])
    with pytest.raises(SystemExit) as exit_info:
        main(["--config", str(QUICKSTART), "--ckpt_path", str(truncated), "--out", "d"])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert f"The checkpoint {truncated} is damaged or truncated" in error
    assert error.count("\n") == 1


def test_hardware_cost_counts_the_epoch_from_the_datamodule(tmp_path: Path) -> None:
    from hqnn_pl.analysis.cli import count_train_samples
    from hqnn_pl.run.loading import load_model_and_data

    main(
        [
            "--config",
            str(QUICKSTART),
            "--only",
            "hardware_cost",
            "--shots",
            "200",
            "--shot_rate",
            "1000",
            "--out",
            str(tmp_path),
        ]
    )
    report = json.loads((tmp_path / "diagnostics.json").read_text())
    assert "fourier" not in report["layers"]["network.middle"]  # --only left the rest out
    cost = report["hardware_cost"]
    train = count_train_samples(load_model_and_data([QUICKSTART]).datamodule)
    assert cost["train_samples"] == train and cost["train_samples_from"].startswith("the data")
    layer = cost["layers"]["network.middle"]
    # 4 circuits per image; parameter shift: 1 + 2 x (45 weights + 5 embedding angles)
    assert layer["circuits_per_sample"] == 4 and layer["qubits"] == 5
    assert layer["executions_per_epoch_parameter_shift"] == 4 * train * 101
    assert cost["shots_per_epoch"] == 4 * train * 101 * 200
    assert cost["device_hours_per_epoch"] == pytest.approx(4 * train * 101 * 200 / 1000 / 3600)
    markdown = (tmp_path / "diagnostics.md").read_text()
    assert f"{4 * train * 101:,} circuit executions" in markdown


def test_hardware_cost_without_data_leaves_the_epoch_out(tmp_path: Path) -> None:
    no_data = _override(tmp_path, "data_dir", str(tmp_path / "no_mnist"))

    def cost(out: str, *extra: str) -> dict:
        main(["--config", str(CONFIGS / "mnist/hqnn_quanv.yaml"), "--config", str(no_data),
              "--only", "hardware_cost", *extra, "--out", str(tmp_path / out)])  # fmt: skip
        return json.loads((tmp_path / out / "diagnostics.json").read_text())["hardware_cost"]

    without = cost("a")
    assert "shots_per_epoch" not in without and without["layers"]["network.0"]["qubits"] == 4
    assert "pass --train_samples" in (tmp_path / "a/diagnostics.md").read_text()
    # 14 px image, 2x2 kernel, stride 2: 49 circuits per image; 4 trained weights to shift
    assert cost("b", "--train_samples", "500")["executions_per_epoch_parameter_shift"] == (
        49 * 500 * 9
    )


def _override(tmp_path: Path, key: str, value: str) -> Path:
    path = tmp_path / "override.yaml"
    path.write_text(f"data:\n  init_args:\n    {key}: {value}\n    download: false\n")
    return path


@pytest.mark.parametrize(
    "args", [["--train_samples", "0"], ["--shots", "-3"], ["--shot_rate", "0"]]
)
def test_bad_hardware_cost_options_exit_2(
    args: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(
            ["--config", str(QUICKSTART), "--only", "hardware_cost", *args, "--out", str(tmp_path)]
        )
    assert exit_info.value.code == 2
    assert args[1] in capsys.readouterr().err
