"""OpenAPI 3 documents to HTTP tool definitions: one per operation. Only local `$ref`s (`#/...`) are
resolved; a remote one is refused, never fetched. Pure: the service stores what this returns."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from axops.tools.http_runner import METHODS

MAX_OPERATIONS = 500
MAX_REF_DEPTH = 32
_NAME_BAD = re.compile(r"[^A-Za-z0-9_-]+")


class ImportError_(ValueError):
    """The document cannot be imported; the message says where."""


@dataclass
class ToolDef:
    name: str
    description: str
    parameters: dict
    spec: dict = field(default_factory=dict)


def parse(document: dict | str) -> dict:
    if isinstance(document, dict):
        return document
    try:
        doc = json.loads(document)
    except ValueError:
        try:
            doc = yaml.safe_load(document)
        except yaml.YAMLError as exc:
            raise ImportError_(f"The document is neither JSON nor YAML: {str(exc)[:200]}") from None
    if not isinstance(doc, dict):
        raise ImportError_("The document must be an OpenAPI object.")
    return doc


class _Resolver:
    def __init__(self, doc: dict):
        self.doc = doc

    def pointer(self, ref: str) -> Any:
        if not ref.startswith("#/"):
            raise ImportError_(f"Only local $refs are resolved (remote references are never fetched): '{ref[:200]}'.")
        node: Any = self.doc
        for raw in ref[2:].split("/"):
            key = raw.replace("~1", "/").replace("~0", "~")
            if isinstance(node, dict) and key in node:
                node = node[key]
            elif isinstance(node, list) and key.isdigit() and int(key) < len(node):
                node = node[int(key)]
            else:
                raise ImportError_(f"The $ref '{ref[:200]}' points at nothing in the document.")
        return node

    def inline(self, node: Any, depth: int = 0, seen: tuple[str, ...] = ()) -> Any:
        """`node` with its $refs replaced by what they point at; a cycle becomes an open object."""
        if depth > MAX_REF_DEPTH:
            return {}
        if isinstance(node, dict):
            if "$ref" in node and isinstance(node["$ref"], str):
                ref = node["$ref"]
                if ref in seen:
                    return {"type": "object"}
                return self.inline(self.pointer(ref), depth + 1, (*seen, ref))
            return {k: self.inline(v, depth + 1, seen) for k, v in node.items()}
        if isinstance(node, list):
            return [self.inline(v, depth + 1, seen) for v in node]
        return node


def _clean_schema(schema: dict) -> dict:
    """OpenAPI's schema dialect to JSON schema: `nullable` and fields JSON schema does not know dropped."""
    if not isinstance(schema, dict):
        return {}
    out = {}
    for k, v in schema.items():
        if k in ("xml", "discriminator", "externalDocs", "example", "readOnly", "writeOnly", "deprecated"):
            continue
        if k == "nullable":
            continue
        if k == "properties" and isinstance(v, dict):
            out[k] = {pk: _clean_schema(pv) for pk, pv in v.items()}
        elif k in ("items", "additionalProperties", "not") and isinstance(v, dict):
            out[k] = _clean_schema(v)
        elif k in ("allOf", "anyOf", "oneOf") and isinstance(v, list):
            out[k] = [_clean_schema(x) for x in v]
        else:
            out[k] = v
    if schema.get("nullable") is True and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    return out


def tool_name(operation: dict, method: str, path: str, prefix: str | None) -> str:
    raw = operation.get("operationId") or f"{method.lower()}_{path}"
    name = re.sub("_{2,}", "_", _NAME_BAD.sub("_", str(raw))).strip("_") or method.lower()
    if prefix:
        name = f"{prefix}_{name}"
    return name[:64]


def _auth(doc: dict, operation: dict, resolver: _Resolver) -> dict:
    security = operation.get("security", doc.get("security")) or []
    schemes = (doc.get("components") or {}).get("securitySchemes") or {}
    for requirement in security:
        for scheme_name in requirement or {}:
            scheme = schemes.get(scheme_name)
            if not isinstance(scheme, dict):
                continue
            scheme = resolver.inline(scheme)
            if scheme.get("type") == "http" and str(scheme.get("scheme", "")).lower() == "bearer":
                return {"type": "bearer"}
            if scheme.get("type") == "oauth2" or scheme.get("type") == "openIdConnect":
                return {"type": "bearer"}
            if scheme.get("type") == "apiKey" and scheme.get("in") in ("header", "query") and scheme.get("name"):
                return {"type": scheme["in"], "name": str(scheme["name"])}
    return {"type": "none"}


def _operation(
    doc: dict, resolver: _Resolver, path: str, method: str, item: dict, op: dict, base_url: str, prefix: str | None
) -> ToolDef:
    properties: dict[str, Any] = {}
    required: list[str] = []
    places: dict[str, dict] = {}
    params = [*(item.get("parameters") or []), *(op.get("parameters") or [])]
    by_key: dict[tuple[str, str], dict] = {}
    for p in params:
        p = resolver.inline(p)
        if isinstance(p, dict) and p.get("name") and p.get("in") in ("path", "query", "header"):
            by_key[(p["in"], p["name"])] = p  # an operation's parameter overrides the path item's
    for (place, name), p in by_key.items():
        schema = _clean_schema(p.get("schema") or {"type": "string"})
        if p.get("description") and "description" not in schema:
            schema["description"] = str(p["description"])[:2000]
        properties[name] = schema
        places[name] = {"in": place}
        if p.get("required") or place == "path":
            required.append(name)
    body = resolver.inline(op.get("requestBody") or {})
    content = (body.get("content") or {}) if isinstance(body, dict) else {}
    media = next((m for m in content if m.split(";")[0].strip() == "application/json"), None)
    if media is not None:
        schema = _clean_schema((content[media] or {}).get("schema") or {})
        props = schema.get("properties") if schema.get("type", "object") == "object" else None
        if isinstance(props, dict) and not set(props) & set(properties) and "additionalProperties" not in schema:
            for name, sub in props.items():
                properties[name] = sub
                places[name] = {"in": "body"}
            required += [r for r in schema.get("required", []) if r in props]
        else:
            properties["body"] = schema
            places["body"] = {"in": "body_raw"}
            if body.get("required"):
                required.append("body")
    parameters: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        parameters["required"] = sorted(set(required))
    description = str(op.get("summary") or "")
    if op.get("description"):
        description = f"{description}\n\n{op['description']}" if description else str(op["description"])
    return ToolDef(
        name=tool_name(op, method, path, prefix),
        description=description.strip()[:8000],
        parameters=parameters,
        spec={
            "method": method.upper(),
            "base_url": base_url,
            "path": path,
            "params": places,
            "auth": _auth(doc, op, resolver),
        },
    )


def operations(doc: dict, *, base_url: str | None, prefix: str | None) -> list[ToolDef]:
    if not str(doc.get("openapi", "")).startswith("3."):
        raise ImportError_("Only OpenAPI 3 documents are imported (the 'openapi' field must be 3.x).")
    paths = doc.get("paths")
    if not isinstance(paths, dict) or not paths:
        raise ImportError_("The document has no paths.")
    if base_url is None:
        servers = doc.get("servers") or []
        base_url = servers[0].get("url") if servers and isinstance(servers[0], dict) else None
        if not base_url:
            raise ImportError_("The document names no server: give base_url.")
    resolver = _Resolver(doc)
    out: list[ToolDef] = []
    for path, item in paths.items():
        if not isinstance(item, dict) or not str(path).startswith("/"):
            raise ImportError_(f"The path '{str(path)[:200]}' must be an object under a key starting with '/'.")
        item = resolver.inline(item) if "$ref" in item else item
        for method, op in item.items():
            if method.upper() not in METHODS or not isinstance(op, dict):
                continue
            out.append(_operation(doc, resolver, path, method, item, op, base_url, prefix))
            if len(out) > MAX_OPERATIONS:
                raise ImportError_(f"The document has more than {MAX_OPERATIONS} operations.")
    if not out:
        raise ImportError_("The document has no operations.")
    names = [t.name.lower() for t in out]
    if dup := sorted({n for n in names if names.count(n) > 1}):
        raise ImportError_(f"Two operations would get the same tool name: {', '.join(dup[:5])}.")
    return out
