"""What the benchmarks ran on, printed with every measurement."""

from __future__ import annotations

import os
import platform

import torch


def describe_machine(device: torch.device) -> str:
    """CPU model, cores, torch threads and version, and the GPU when ``device`` is CUDA."""
    cpu = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            names = (line.split(":", 1)[1] for line in cpuinfo if line.startswith("model name"))
            cpu = next(names, cpu).strip()
    except OSError:
        pass  # not Linux: keep platform.processor()
    text = (
        f"{os.cpu_count()} CPU cores ({cpu}), {torch.get_num_threads()} torch threads, "
        f"torch {torch.__version__}"
    )
    if device.type == "cuda":
        return text + f", GPU {torch.cuda.get_device_name(device)} (CUDA {torch.version.cuda})"
    return text + ", no GPU"
