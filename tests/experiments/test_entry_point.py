from __future__ import annotations

import importlib
import re

import pytest

from tests.conftest import REPO


def test_console_script_target_exists_and_has_help(capsys) -> None:
    # tomllib is Python 3.11+; the project supports 3.10.
    target = re.search(r'^hqnn-pl-compare = "(.+)"$', (REPO / "pyproject.toml").read_text(), re.M)
    module, _, name = target.group(1).partition(":")
    main = getattr(importlib.import_module(module), name)
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: hqnn-pl-compare") and "--plan-only" in out and "--report" in out


def test_report_of_a_folder_without_runs_is_refused(tmp_path, capsys) -> None:
    from hqnn_pl.experiments.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["--report", str(tmp_path)])
    assert exit_info.value.code == 2
    assert "no compare.json there" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main(["--config", "x.yaml"])
    assert exit_info.value.code == 2
