"""Loading in the runtime: a LoRA adapter version is merged onto its base model; the memory a
deployment allows is enforced before loading; corrupt weights are named."""

from __future__ import annotations

import pytest
import torch

from axops.runtime.fetch import FetchError, check_weights
from axops.runtime.loading import load_model


def test_a_lora_adapter_is_served_merged_on_its_base(demo_dirs, tmp_path):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(demo_dirs[0]).eval()
    ids = torch.tensor([[5, 17, 42, 99]])
    with torch.inference_mode():
        plain = base(ids).logits
    tuned = get_peft_model(
        base, LoraConfig(r=4, lora_alpha=8, target_modules=["c_attn"], init_lora_weights=False)
    ).eval()
    tuned.save_pretrained(tmp_path / "adapter")
    with torch.inference_mode():
        expected = tuned(ids).logits
    assert not torch.allclose(plain, expected, atol=1e-4)  # the adapter changes the answers

    model, tokenizer = load_model(tmp_path / "adapter", demo_dirs[0], "cpu", "float32", None)
    with torch.inference_mode():
        assert torch.allclose(model(ids).logits, expected, atol=1e-5)
    assert tokenizer.eos_token is not None  # the base version's tokenizer


def test_memory_limit_and_corrupt_weights_are_refused_before_loading(demo_dirs, tmp_path):
    with pytest.raises(FetchError, match="GiB this deployment allows"):
        load_model(demo_dirs[0], None, "cpu", "float32", memory_limit_bytes=1024)
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "model.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json")
    with pytest.raises(FetchError, match=r"model\.safetensors is not a valid safetensors file"):
        check_weights(broken)
    with pytest.raises(FetchError, match="no weights"):
        check_weights(tmp_path)
