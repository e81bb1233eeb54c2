"""Real IBM devices' noise, layout and routing, run exactly in torch.

``Execution(noise={"device": "fake_torino"})`` compiles each circuit structure once with Qiskit's
transpiler to the device's coupling map and native gates (:mod:`~.compile`), attaches to every
gate the channels of ``qiskit_aer.noise.NoiseModel.from_backend`` (:mod:`~.channels`) and runs
the compiled circuit exactly, batched, with gradients (:mod:`~.executor`). Calibrations come from
qiskit-ibm-runtime's fake provider or a backend-properties JSON (:mod:`~.backends`). Qiskit is
the optional extra ``pip install "hqnn-pl[devices]"``; nothing here imports it before it is used.
"""

from hqnn_pl.quantum.devices.config import DEVICE_KEYS, DeviceNoise, is_device_spec

__all__ = ["DEVICE_KEYS", "DeviceNoise", "device_names", "is_device_spec"]


def device_names() -> list[str]:
    """The device names the fake provider knows (``fake_<name>``; needs the extra)."""
    from hqnn_pl.quantum.devices.backends import device_names as names

    return names()
