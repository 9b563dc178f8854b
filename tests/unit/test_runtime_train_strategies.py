"""The training runtime's arguments for the strategies and methods that need GPUs: what runs where
a GPU is (FSDP's sharding, DeepSpeed ZeRO-2, 4-bit QLoRA), and a clear failure where the runtime
image lacks the package — never a silent fall-back to something else."""

from __future__ import annotations

import sys

import pytest
from transformers import TrainingArguments

from axops.runtime.train import JobFailure, _quantized, _strategy


def test_fsdp_shards_with_the_original_parameters_and_ddp_needs_nothing_more(tmp_path):
    assert _strategy("none") == {} and _strategy("ddp") == {}
    fsdp = _strategy("fsdp")
    assert fsdp["fsdp"] == "full_shard auto_wrap" and fsdp["fsdp_config"]["use_orig_params"] is True
    args = TrainingArguments(output_dir=str(tmp_path), report_to=[], **fsdp)
    assert args.fsdp_config["use_orig_params"] is True  # the Trainer takes it as given


def test_deepspeed_without_its_package_is_a_user_error_said_plainly(monkeypatch):
    monkeypatch.setitem(sys.modules, "deepspeed", None)  # as in a runtime image without it: importing fails
    with pytest.raises(JobFailure) as failure:
        _strategy("deepspeed")
    assert failure.value.kind == "user_code" and "deepspeed package" in failure.value.reason


def test_qlora_without_bitsandbytes_is_a_user_error_said_plainly(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "bitsandbytes", None)
    with pytest.raises(JobFailure) as failure:
        _quantized(None, tmp_path, None)
    assert failure.value.kind == "user_code" and "bitsandbytes" in failure.value.reason
