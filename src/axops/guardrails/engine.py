"""Running the checks of the policies that apply on one text: allow, mask (with the masked text and
what to put back in the answer) or block, with every check's verdict. Pure and synchronous for the
built-in detectors; checks that ask a model (moderation, injection classifier) take an injected
async callable, since this layer cannot import the gateway."""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

from axops.guardrails import checks
from axops.guardrails.checks import Hit

_SEVERITY = {"allow": 0, "mask": 1, "block": 2}
_PLACEHOLDER = re.compile(r"\[[A-Z_]{2,20}_\d{1,4}\]")


@dataclass(frozen=True, slots=True)
class Compiled:
    """A policy resolved once when the cache loads, so the hot path reads attributes only."""

    id: uuid.UUID | None
    name: str
    scope: str
    target_id: uuid.UUID | None
    input: bool
    output: bool
    pii: tuple[frozenset[str] | None, str, bool] | None = None  # entities, action, restore
    banned: tuple[list[str], str] | None = None
    harmful: tuple[frozenset[str] | None, str, str | None] | None = None  # categories, action, moderation route
    injection: tuple[str, str | None] | None = None  # action, classifier route
    moderation_api: str = "moderation"  # how the moderation route is asked: "moderation" or "guard_chat"
    on_model_error: tuple[str, str] = ("allow", "allow")  # harmful, injection: when the model can't answer


def compile_policy(
    id: uuid.UUID | None, name: str, scope: str, target_id: uuid.UUID | None, direction: str, spec: dict
) -> Compiled:
    p, b, h, i = (spec.get(k) for k in ("pii", "banned_words", "harmful", "injection"))
    return Compiled(
        id=id,
        name=name,
        scope=scope,
        target_id=target_id,
        input=direction in ("input", "both"),
        output=direction in ("output", "both"),
        pii=(
            (
                # unique identifiers are always looked for: the Korean rule blocks them whatever the list
                frozenset(p["entities"]) | checks.UNIQUE_IDENTIFIERS if p.get("entities") else None,
                p.get("action", "mask"),
                bool(p.get("restore")),
            )
            if p
            else None
        ),
        banned=(list(b["words"]), b.get("action", "block")) if b else None,
        harmful=(
            (
                frozenset(h["categories"]) if h.get("categories") else None,
                h.get("action", "block"),
                h.get("moderation_route"),
            )
            if h
            else None
        ),
        injection=(i.get("action", "block"), i.get("classifier_route")) if i else None,
        moderation_api=(h or {}).get("moderation_api", "moderation"),
        on_model_error=((h or {}).get("on_model_error", "allow"), (i or {}).get("on_model_error", "allow")),
    )


@dataclass(frozen=True, slots=True)
class Verdict:
    policy_id: uuid.UUID | None
    policy: str
    check: str
    action: str  # allow when nothing was found
    hits: tuple[Hit, ...] = ()
    restore: bool = False

    @property
    def kinds(self) -> list[str]:
        return sorted({h.kind for h in self.hits})


@dataclass(slots=True)
class Decision:
    action: str = "allow"
    text: str = ""  # the text to send on: masked when action is mask
    restore: dict[str, str] = field(default_factory=dict)  # placeholder → original value
    verdicts: list[Verdict] = field(default_factory=list)

    @property
    def blocking(self) -> Verdict | None:
        return next((v for v in self.verdicts if v.action == "block"), None)


def _verdict(policy: Compiled, check: str, action: str, hits: list[Hit], restore: bool = False) -> Verdict:
    return Verdict(policy.id, policy.name, check, action if hits else "allow", tuple(hits), restore)


def evaluate(policies: Iterable[Compiled], text: str, direction: str, counter: dict | None = None) -> Decision:
    """Every built-in check of every policy for `direction` on `text`. `counter` numbers placeholders
    across several texts of one request (the messages of a chat)."""
    verdicts: list[Verdict] = []
    for p in policies:
        if not (p.input if direction == "input" else p.output):
            continue
        if p.pii is not None:
            entities, action, restore = p.pii
            hits = checks.pii(text, entities)
            if hits and checks.korean_pii_rule(hits):
                action = "block"  # a unique identifier, or several kinds of personal data together: never sent
            verdicts.append(_verdict(p, "pii", action, hits, restore))
        if p.banned is not None:
            verdicts.append(_verdict(p, "banned_words", p.banned[1], checks.banned_words(text, p.banned[0])))
        if p.harmful is not None:
            verdicts.append(_verdict(p, "harmful", p.harmful[1], checks.harmful(text, p.harmful[0])))
        if p.injection is not None:
            verdicts.append(_verdict(p, "injection", p.injection[0], checks.injection(text)))
    decision = Decision(text=text, verdicts=verdicts)
    worst = max((_SEVERITY[v.action] for v in verdicts), default=0)
    decision.action = ("allow", "mask", "block")[worst]
    if decision.action == "mask":
        decision.text = _mask(text, [v for v in verdicts if v.action == "mask"], decision.restore, counter)
    return decision


UNAVAILABLE = "classifier_unavailable"  # the kind of a model check that got no answer

# classify(check, route, text, categories, api): True when the model flags the text, False when it
# does not, None when it could not answer (route missing, upstream down, timeout, unreadable answer).
Classify = Callable[[str, str, str, frozenset[str] | None, str], Awaitable[bool | None]]


# Filled by the gateway (gateway/guarding.py) when imported: (gateway state, caller) → Classify. The
# policy tester uses it to show the model-backed verdicts too.
model_classifier: Callable[[object, object], Classify] | None = None


async def evaluate_with_models(
    policies: Iterable[Compiled],
    text: str,
    direction: str,
    classify: Classify | None,
    counter: dict | None = None,
) -> Decision:
    """`evaluate`, then the checks that ask a model (a check whose action is block and that names a
    route). Skipped when the built-in checks already block. A model that can't answer follows the
    check's `on_model_error`: block (the verdict's kind is `classifier_unavailable`) or allow, with an
    allow verdict of that kind that is still recorded."""
    policies = list(policies)
    decision = evaluate(policies, text, direction, counter)
    if classify is None or decision.action == "block":
        return decision
    for p in policies:
        if not (p.input if direction == "input" else p.output):
            continue
        asks = (
            ("harmful", p.harmful and p.harmful[1], p.harmful and p.harmful[2], p.harmful and p.harmful[0], 0),
            ("injection", p.injection and p.injection[0], p.injection and p.injection[1], None, 1),
        )
        for check, action, route, categories, which in asks:
            if not route or action != "block":
                continue
            flagged = await classify(check, route, text, categories, p.moderation_api)
            if flagged is None:
                fail = p.on_model_error[which]
                decision.verdicts.append(Verdict(p.id, p.name, check, fail, (Hit(check, UNAVAILABLE, 0, 0, 0.0),)))
                if fail != "block":
                    continue
            elif not flagged:
                continue
            else:
                decision.verdicts.append(
                    Verdict(p.id, p.name, check, "block", (Hit(check, "model", 0, len(text), 1.0),))
                )
            decision.action, decision.text, decision.restore = "block", text, {}
            return decision
    return decision


def unavailable(decision: Decision) -> bool:
    """Blocked only because a model check could not answer (fail closed)."""
    v = decision.blocking
    return v is not None and bool(v.hits) and v.hits[0].kind == UNAVAILABLE


def _mask(text: str, verdicts: list[Verdict], restore: dict[str, str], counter: dict | None) -> str:
    """Replace every masked hit (overlaps merged, leftmost first) by a placeholder: `[EMAIL_1]` for PII,
    asterisks for banned words."""
    spans = sorted((h.start, h.end, h.kind, v.check, v.restore) for v in verdicts for h in v.hits)
    counter = counter if counter is not None else {}
    out, at = [], 0
    for start, end, kind, check, keep in spans:
        if start < at:  # overlaps the previous span: already covered
            continue
        out.append(text[at:start])
        original = text[start:end]
        if check == "pii":
            tag = re.sub(r"[^A-Z_]", "_", kind.upper())[:20] or "PII"
            counter[tag] = counter.get(tag, 0) + 1
            placeholder = f"[{tag}_{counter[tag]}]"
            if keep:
                restore[placeholder] = original
            out.append(placeholder)
        else:
            out.append("*" * len(original))
        at = end
    out.append(text[at:])
    return "".join(out)


def restore(text: str, mapping: dict[str, str]) -> str:
    """Put masked values back where the answer repeats their placeholders."""
    if not mapping or "[" not in text:
        return text
    return _PLACEHOLDER.sub(lambda m: mapping.get(m.group(0), m.group(0)), text)


class StreamGuard:
    """Output checks on a streamed answer as its chunks arrive. Each chunk is checked together with
    the end of what came before (a rolling window), so a value split across chunks is still found.
    A stream cannot be masked after it has gone out: any mask or block verdict cuts it."""

    WINDOW = 256

    def __init__(self, policies: list[Compiled]) -> None:
        self.policies = [p for p in policies if p.output]
        self.tail = ""
        self.window = ""  # the text the last chunk was checked in (hit offsets refer to it)

    def feed(self, delta: str) -> Decision | None:
        """The decision that cuts the stream, or None to let the chunk through."""
        if not delta or not self.policies:
            return None
        window = self.window = self.tail + delta
        decision = evaluate(self.policies, window, "output")
        self.tail = window[-self.WINDOW :]
        if decision.action == "allow":
            return None
        decision.action = "block"
        return decision
