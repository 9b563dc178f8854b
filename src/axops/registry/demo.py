"""A tiny causal language model the project builds itself, so every journey works offline.

A 2-layer GPT-2 with a byte-level BPE tokenizer trained on a small bundled Korean + English
corpus, trained for a few dozen steps on the CPU (seconds), saved in Hugging Face format
(safetensors, config.json, tokenizer files, a README with front matter).
"""

from __future__ import annotations

from pathlib import Path

CORPUS = Path(__file__).with_name("demo_corpus.txt")
CHAT_TEMPLATE = (
    "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}assistant: {% endif %}"
)
README = """---
license: apache-2.0
language: [ko, en]
tags: [demo, tiny]
---
# axops demo GPT-2

A {layers}-layer GPT-2-style model with a byte-level BPE tokenizer, trained by `axops demo` on a small
Korean and English corpus. It exists so journeys can be tried offline; it writes plausible-looking noise.
"""


def build_demo_model(out_dir: Path, *, layers: int = 2, hidden: int = 64, steps: int = 40, seed: int = 0) -> Path:
    import torch
    from tokenizers import ByteLevelBPETokenizer
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    out_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    lines = [line for line in CORPUS.read_text(encoding="utf-8").splitlines() if line.strip()]
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(lines, vocab_size=512, min_frequency=1, special_tokens=["<|endoftext|>"])
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe._tokenizer,
        eos_token="<|endoftext|>",
        bos_token="<|endoftext|>",
        unk_token="<|endoftext|>",
        pad_token="<|endoftext|>",
        model_max_length=128,
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    config = GPT2Config(
        vocab_size=len(tokenizer),
        n_positions=128,
        n_embd=hidden,
        n_layer=layers,
        n_head=4,
        bos_token_id=tokenizer.eos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    model = GPT2LMHeadModel(config)
    batch = tokenizer(
        [line + tokenizer.eos_token for line in lines], return_tensors="pt", padding=True, truncation=True
    )
    labels = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(steps):
        loss = model(**batch, labels=labels).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    model.eval()
    model.save_pretrained(out_dir, safe_serialization=True)
    tokenizer.save_pretrained(out_dir)
    (out_dir / "README.md").write_text(README.format(layers=layers), encoding="utf-8")
    return out_dir
