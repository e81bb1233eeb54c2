"""Without the [devices] extra, device noise fails in one line naming it (runs without qiskit)."""

from __future__ import annotations

import sys

import pytest

from hqnn_pl.errors import ConfigurationError
from hqnn_pl.quantum import Execution
from hqnn_pl.quantum.devices import backends


@pytest.mark.parametrize("missing", ["qiskit", "qiskit_ibm_runtime.fake_provider"])
def test_a_missing_extra_fails_in_one_line(monkeypatch, missing: str) -> None:
    backends.load_backend.cache_clear()
    backends._fake_classes.cache_clear()
    monkeypatch.setitem(sys.modules, missing, None)  # import fails as if not installed
    try:
        with pytest.raises(ConfigurationError) as info:
            Execution(noise={"device": "fake_torino"})
    finally:
        backends.load_backend.cache_clear()
        backends._fake_classes.cache_clear()
    message = str(info.value)
    assert 'pip install "hqnn-pl[devices]"' in message and "\n" not in message


def test_uniform_noise_and_exact_runs_need_no_extra(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "qiskit", None)
    assert Execution(noise={"depolarizing": 0.01}).device_noise is None
    assert Execution().noise is None
