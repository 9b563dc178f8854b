"""This machine's GPUs, read through NVML (nvidia-ml-py) when a driver is present; none otherwise.

A leaf module: it imports nothing of axops, so the control plane, its executors and the runtimes
(model server, training) can all ask it."""

from __future__ import annotations

import functools


@functools.cache
def _nvml():
    try:
        import pynvml

        pynvml.nvmlInit()
        return pynvml
    except Exception:
        return None


def gpus(details: bool = False) -> list[dict]:
    nvml = _nvml()
    if nvml is None:
        return []
    found = []
    for i in range(nvml.nvmlDeviceGetCount()):
        handle = nvml.nvmlDeviceGetHandleByIndex(i)
        gpu = {"index": i, "name": nvml.nvmlDeviceGetName(handle), "uuid": nvml.nvmlDeviceGetUUID(handle)}
        if details:
            memory = nvml.nvmlDeviceGetMemoryInfo(handle)
            utilisation = nvml.nvmlDeviceGetUtilizationRates(handle)
            try:
                temperature = nvml.nvmlDeviceGetTemperature(handle, nvml.NVML_TEMPERATURE_GPU)
            except nvml.NVMLError:
                temperature = None
            gpu |= {
                "utilization_percent": utilisation.gpu,
                "memory_used_bytes": memory.used,
                "memory_total_bytes": memory.total,
                "temperature_c": temperature,
            }
        found.append(gpu)
    return found


def gpu_readings() -> list[dict]:
    """Each GPU's current readings for the metric history: index, uuid, utilization_percent,
    memory_used_bytes, memory_total_bytes, temperature_c, power_w (None when the driver does not
    report it). Empty without NVML."""
    nvml = _nvml()
    if nvml is None:
        return []
    found = []
    for gpu in gpus(details=True):
        try:
            power = nvml.nvmlDeviceGetPowerUsage(nvml.nvmlDeviceGetHandleByIndex(gpu["index"])) / 1000.0
        except nvml.NVMLError:
            power = None
        found.append(gpu | {"power_w": power})
    return found
