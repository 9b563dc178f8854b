"""Getting a model ready to serve: the version fetched from the control plane into the local cache
(with its base model, for a LoRA adapter), the device and dtype chosen, the memory needed checked
against the deployment's limit, weights and tokenizer loaded, one warm-up generation run."""

from __future__ import annotations

import os
from pathlib import Path

from axops.runtime import engine as eng
from axops.runtime.fetch import FetchError, fetch_version, version_info


def materialise(
    model_dir: Path | None, version_id: str | None, control_url: str, cache_dir: Path, served_name: str | None
) -> tuple[Path, Path | None, str]:
    """(model dir, base model dir for an adapter or None, served name)."""
    if model_dir:
        return model_dir, None, served_name or model_dir.name
    if not version_id:
        raise FetchError("give --model-dir or --version-id")
    token = os.environ.get("AXOPS_RUNTIME_TOKEN", "")
    info = version_info(control_url, token, version_id)
    directory = fetch_version(control_url, token, info, cache_dir)
    base = None
    if (directory / "adapter_config.json").exists():
        if not info.get("base_version_id"):
            raise FetchError("adapter_config.json found but the version names no base model version")
        base_info = version_info(control_url, token, info["base_version_id"])
        base = fetch_version(control_url, token, base_info, cache_dir)
    return directory, base, served_name or f"version-{info['version']}"


def pick_device(requested: str) -> tuple[str, str]:
    """(device, dtype name): the GPU when there is one, with bf16 where it is supported, else fp16; fp32 on the CPU."""
    import torch

    device = requested if requested != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda"):
        return device, "bfloat16" if torch.cuda.is_bf16_supported() else "float16"
    return device, "float32"


def load_model(directory: Path, base_directory: Path | None, device: str, dtype: str, memory_limit_bytes: int | None):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    weights_dir = base_directory or directory
    if memory_limit_bytes:
        needed = estimate_memory_bytes(weights_dir, dtype)
        if needed > memory_limit_bytes:
            raise FetchError(
                f"the model needs about {needed / 2**30:.2f} GiB to load in {dtype}, more than the "
                f"{memory_limit_bytes / 2**30:.2f} GiB this deployment allows"
            )
    tokenizer = AutoTokenizer.from_pretrained(
        directory if (directory / "tokenizer_config.json").exists() else weights_dir
    )
    model = AutoModelForCausalLM.from_pretrained(weights_dir, dtype=getattr(torch, dtype))
    if base_directory is not None:  # a LoRA adapter version, served on its base model
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, directory).merge_and_unload()
    return model.to(device).eval(), tokenizer


def estimate_memory_bytes(directory: Path, dtype: str) -> int:
    """Weights at the serving dtype plus a working margin (activations, KV cache, allocator)."""
    stored = sum(p.stat().st_size for p in directory.iterdir() if p.suffix in (".safetensors", ".bin"))
    factor = 0.5 if dtype in ("bfloat16", "float16") else 1.0  # checkpoints are usually stored in fp32 or half
    return int(stored * factor * 1.2) + 256 * 2**20


def warm_up(engine: eng.Engine, tokenizer) -> None:
    """One short generation through the engine thread before we call ourselves ready."""
    import threading

    done = threading.Event()
    ids = tokenizer("warm up", add_special_tokens=False)["input_ids"] or [engine.pad_id]
    engine.submit(
        eng.Sequence(
            ids, eng.Sampling(max_tokens=2, temperature=0), 0, lambda e: done.set() if e.finish_reason else None
        )
    )
    if not done.wait(timeout=300):
        raise RuntimeError("warm-up did not finish")
