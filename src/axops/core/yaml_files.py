"""YAML files the API exports and imports (prompts, workflows): a dumper that writes multi-line text as
blocks, and a loader for uploads that reads at most MAX_IMPORT_BYTES with PyYAML's safe loader only and
refuses a file whose aliases would expand past MAX_NODES values (the "billion laughs" bomb)."""

from __future__ import annotations

import yaml

from axops.core.errors import Invalid, PayloadTooLarge

MAX_IMPORT_BYTES = 1024 * 1024
MAX_NODES = 200_000  # values in the file once its aliases are expanded (a "billion laughs" file has 10^9)


class BlockDumper(yaml.SafeDumper):
    """Writes text with line breaks as a `|` block, so a file kept in git diffs line by line."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value and not any(c in value for c in "\r\t") and value == value.strip(" ") else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


BlockDumper.add_representer(str, _str)


def dump(doc: object) -> str:
    return yaml.dump(doc, Dumper=BlockDumper, allow_unicode=True, sort_keys=False, width=120)


def _expanded_size(node: yaml.Node, seen: dict[int, int]) -> int:
    """How many values the document holds with every alias expanded, counted once per distinct node."""
    if id(node) in seen:
        return seen[id(node)]
    seen[id(node)] = 1  # a recursive alias counts once (the models refuse the cycle itself)
    size = 1
    if isinstance(node, yaml.MappingNode):
        size += sum(_expanded_size(k, seen) + _expanded_size(v, seen) for k, v in node.value)
    elif isinstance(node, yaml.SequenceNode):
        size += sum(_expanded_size(item, seen) for item in node.value)
    seen[id(node)] = size
    return size


def load(raw: bytes, *, what: str, code: str) -> tuple[object, yaml.Node | None]:
    """(document, its node tree for line numbers) of an uploaded `what` file ("A prompt file"). Too big is
    413; not UTF-8, not YAML (with the line and column where told) or too many values is 422 with `code`."""
    if len(raw) > MAX_IMPORT_BYTES:
        raise PayloadTooLarge(f"{what} is at most {MAX_IMPORT_BYTES:,} bytes.")
    try:
        loader = yaml.SafeLoader(raw.decode("utf-8"))
        try:
            node = loader.get_single_node()
            if node is not None and _expanded_size(node, {}) > MAX_NODES:
                raise Invalid(
                    f"The file expands to more than {MAX_NODES:,} values (through anchors and aliases): refused.",
                    code=code,
                )
            doc = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except UnicodeDecodeError:
        raise Invalid("The file is not UTF-8 text.", code=code) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        raise Invalid(
            f"The file is not valid YAML: {exc.problem or exc}",
            code=code,
            line=mark.line + 1 if mark else None,
            column=mark.column + 1 if mark else None,
        ) from None
    except (yaml.YAMLError, RecursionError):
        raise Invalid("The file is not valid YAML (or nests too deeply).", code=code) from None
    return doc, node
