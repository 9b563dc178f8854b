"""Model cards: facts read from a version's files without loading any weights.

config.json gives the architecture, context length and vocabulary; safetensors headers give the
exact parameter count and dtypes (tensor shapes are in the header, the weights are not read);
tokenizer files and the README's front matter fill the rest. Also validates what it reads, so a
corrupt upload is refused with the name of the file at fault.
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import yaml

MAX_SAFETENSORS_HEADER = 100 * 1024 * 1024
DTYPE_BYTES = {
    "F64": 8,
    "F32": 4,
    "F16": 2,
    "BF16": 2,
    "I64": 8,
    "I32": 4,
    "I16": 2,
    "I8": 1,
    "U8": 1,
    "BOOL": 1,
    "F8_E4M3": 1,
    "F8_E5M2": 1,
    "U16": 2,
    "U32": 4,
    "U64": 8,
}
CONTEXT_KEYS = ("max_position_embeddings", "n_positions", "max_seq_len", "seq_length", "n_ctx", "max_sequence_length")


class CardError(ValueError):
    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path


@dataclass
class FileInfo:
    path: str
    size: int


@dataclass
class Card:
    facts: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] | None = None
    auto_tags: list[str] = field(default_factory=list)


Read = Callable[[str], Awaitable[bytes]]
ReadRange = Callable[[str, int, int], Awaitable[bytes]]


async def safetensors_header(path: str, size: int, read_range: ReadRange) -> dict[str, Any]:
    """Parse and check a safetensors header: its tensors must exactly cover the rest of the file."""
    if size < 8:
        raise CardError(path, "not a safetensors file (shorter than its 8-byte header length)")
    (header_len,) = struct.unpack("<Q", await read_range(path, 0, 8))
    if header_len == 0 or header_len > MAX_SAFETENSORS_HEADER or 8 + header_len > size:
        raise CardError(path, "not a safetensors file (its header length is impossible; truncated or corrupt?)")
    try:
        header = json.loads(await read_range(path, 8, 8 + header_len))
    except (ValueError, UnicodeDecodeError) as exc:
        raise CardError(path, "the safetensors header is not valid JSON (corrupt file?)") from exc
    if not isinstance(header, dict):
        raise CardError(path, "the safetensors header is not a JSON object")
    data_size = size - 8 - header_len
    end = 0
    for name, tensor in header.items():
        if name == "__metadata__":
            continue
        try:
            start, stop = tensor["data_offsets"]
            expected = math.prod(tensor["shape"]) * DTYPE_BYTES[tensor["dtype"]]
        except (KeyError, TypeError, ValueError) as exc:
            raise CardError(path, f"tensor {name!r} has a malformed entry") from exc
        if stop - start != expected or stop > data_size:
            raise CardError(path, f"tensor {name!r} lies outside the file (truncated upload?)")
        end = max(end, stop)
    if end != data_size:
        raise CardError(
            path, f"the file holds {data_size} bytes of tensors but its header describes {end} (truncated?)"
        )
    return header


def _json(path: str, raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise CardError(path, "is not valid JSON") from exc


def _front_matter(text: str) -> tuple[dict, str]:
    if text.startswith("---"):
        end = text.find("\n---", 3)
        if end != -1:
            try:
                meta = yaml.safe_load(text[3:end]) or {}
            except yaml.YAMLError:
                meta = {}
            return (meta if isinstance(meta, dict) else {}), text[end + 4 :].lstrip("\n")
    return {}, text


def _first_paragraph(body: str) -> str:
    for block in body.split("\n\n"):
        block = block.strip()
        if block and not block.startswith("#"):
            return block[:500]
    return ""


def size_bucket(params: int) -> str:
    for limit, label in ((100e6, "<100M"), (1e9, "<1B"), (10e9, "1B-10B"), (100e9, "10B-100B")):
        if params < limit:
            return label
    return ">100B"


async def analyze(files: list[FileInfo], read: Read, read_range: ReadRange) -> Card:
    by_path = {f.path: f for f in files}
    card = Card()
    facts = card.facts
    for f in files:
        if f.size == 0:
            raise CardError(f.path, "is empty (0 bytes)")

    if "config.json" in by_path:
        config = _json("config.json", await read("config.json"))
        if not isinstance(config, dict):
            raise CardError("config.json", "is not a JSON object")
        card.config = config
        archs = config.get("architectures") or []
        facts["architecture"] = archs[0] if archs else config.get("model_type")
        facts["model_type"] = config.get("model_type")
        facts["context_length"] = next((config[k] for k in CONTEXT_KEYS if isinstance(config.get(k), int)), None)
        facts["vocab_size"] = config.get("vocab_size")
        facts["hidden_size"] = config.get("hidden_size") or config.get("n_embd")
        facts["num_layers"] = config.get("num_hidden_layers") or config.get("n_layer")
        facts["config_dtype"] = config.get("torch_dtype") or config.get("dtype")

    params, dtypes, weight_files = 0, set(), []
    for f in files:
        if f.path.endswith(".safetensors"):
            header = await safetensors_header(f.path, f.size, read_range)
            weight_files.append(f.path)
            for name, tensor in header.items():
                if name != "__metadata__":
                    params += math.prod(tensor["shape"])
                    dtypes.add(tensor["dtype"])
        elif f.path.endswith((".bin", ".pt", ".pth", ".gguf")):
            weight_files.append(f.path)
    if params:
        facts["parameter_count"] = params
        facts["dtype"] = ", ".join(sorted(dtypes))
    facts["weight_files"] = weight_files
    facts["is_adapter"] = "adapter_config.json" in by_path
    if facts["is_adapter"]:
        adapter = _json("adapter_config.json", await read("adapter_config.json"))
        facts["adapter"] = {
            k: adapter.get(k) for k in ("peft_type", "r", "lora_alpha", "target_modules", "base_model_name_or_path")
        }

    if "tokenizer_config.json" in by_path:
        tok = _json("tokenizer_config.json", await read("tokenizer_config.json"))
        facts["has_chat_template"] = bool(tok.get("chat_template")) or "chat_template.jinja" in by_path
        if (
            not facts.get("context_length")
            and isinstance(tok.get("model_max_length"), int)
            and tok["model_max_length"] < 10**7
        ):
            facts["context_length"] = tok["model_max_length"]
    if "tokenizer.json" in by_path and not facts.get("vocab_size"):
        tok = _json("tokenizer.json", await read("tokenizer.json"))
        vocab = (tok.get("model") or {}).get("vocab")
        if isinstance(vocab, dict | list):
            facts["vocab_size"] = len(vocab) + len(tok.get("added_tokens") or [])

    readme = next((p for p in by_path if p.lower() == "readme.md"), None)
    if readme:
        meta, body = _front_matter((await read(readme)).decode("utf-8", errors="replace"))
        facts["license"] = meta.get("license")
        facts["language"] = meta.get("language")
        facts["readme_summary"] = _first_paragraph(body)

    if facts.get("model_type"):
        card.auto_tags.append(f"arch:{facts['model_type']}")
    if params:
        card.auto_tags.append(f"size:{size_bucket(params)}")
    if facts["is_adapter"]:
        card.auto_tags.append("adapter")
    return card


def _human(n: int | None, unit: str = "") -> str:
    if n is None:
        return "—"
    for step, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K")):
        if n >= step:
            return f"{n / step:.2f}{suffix}{unit}"
    return f"{n}{unit}"


def render_markdown(model_name: str, version: int, facts: dict, files: list[FileInfo], lineage: dict) -> str:
    rows = [
        ("Architecture", facts.get("architecture") or "—"),
        ("Parameters", f"{_human(facts.get('parameter_count'))} ({facts.get('parameter_count') or '—'})"),
        ("Context length", facts.get("context_length") or "—"),
        ("Vocabulary", facts.get("vocab_size") or "—"),
        ("Weights dtype", facts.get("dtype") or facts.get("config_dtype") or "—"),
        ("License", facts.get("license") or "—"),
    ]
    lines = [f"# {model_name} v{version}", ""]
    if facts.get("readme_summary"):
        lines += [facts["readme_summary"], ""]
    lines += [
        "| | |",
        "|---|---|",
        *[f"| {k} | {v} |" for k, v in rows],
        "",
        "## Files",
        "",
        "| file | size |",
        "|---|---|",
    ]
    lines += [f"| `{f.path}` | {_human(f.size, 'B')} |" for f in sorted(files, key=lambda f: f.path)]
    if any(lineage.values()):
        lines += ["", "## Lineage", ""]
        lines += [f"- {k.replace('_', ' ')}: {v}" for k, v in lineage.items() if v]
    return "\n".join(lines) + "\n"
