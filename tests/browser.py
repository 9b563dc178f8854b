"""What browser journeys do in the page besides their subject: log in and out through the UI, fill a
Vuetify field, pick from a select."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import Page, expect


def field(page: Page, testid: str):
    """The <input> of a Vuetify field, wherever the test id landed (wrapper or input)."""
    return page.locator(f'input[data-testid="{testid}"], [data-testid="{testid}"] input').first


def open_login(page: Page) -> None:
    page.goto("/login")
    # The username field takes focus once mounted; wait for it, or it can steal a later fill's focus.
    expect(field(page, "login-username")).to_be_focused()


def ui_login(page: Page, username: str, password: str) -> None:
    open_login(page)
    field(page, "login-username").fill(username)
    field(page, "login-password").fill(password)
    page.get_by_test_id("login-submit").click()
    expect(page.get_by_test_id("nav-home")).to_be_visible()


def ui_logout(page: Page) -> None:
    page.get_by_test_id("user-menu").click()
    page.get_by_test_id("logout").click()
    expect(page.get_by_test_id("login-submit")).to_be_visible()


def pick(page: Page, testid: str, option: str, multiple: bool = False) -> None:
    page.get_by_test_id(testid).click()
    page.get_by_role("option", name=option).click()
    if multiple:  # a multiple select stays open; Escape closes just its menu
        page.keyboard.press("Escape")
        expect(page.get_by_role("option", name=option)).to_have_count(0)


# --- The Korean-strings check and the accessibility check (issue 14 items 5 and 10) -------------------------------

# Words that stay in Latin script in the Korean UI: product and technology names, units, acronyms.
KOREAN_UI_ALLOWED = frozenset(
    """
    axops LLM Ops LoRA QLoRA GPU GPUs CPU API APIs MLflow Langfuse JSON JSONL CSV YAML HTTP HTTPS URL URI ID IDs UUID
    PII SSE SSO JWT OpenAI OpenAPI Authorization Bearer SHA UTC KST ISO AA p50 p90 p95 p99 ms s h m d KB MB GB TB KiB MiB GiB B
    USD KRW vLLM TGI Ollama Llama Qwen Mistral Gemma Hugging Face HF Safetensors safetensors GGUF SFT DPO RLHF
    Markdown English Adam AdamW LR fp16 bf16 int8 int4 tokens/s tok x HTML BLEU chrF ROUGE ROUGE-1 ROUGE-2 ROUGE-L F1 LLM
    SLO SLA PSI KS QPS Slack SMTP HMAC Alertmanager Prometheus Grafana Loki OTLP
    MCP Python stdio SQL DuckDB
    Tab Enter Delete Backspace Esc
    """.split()
)

# Data every test server holds, shown verbatim like any user data: the bootstrap admin's username and display name,
# the default team's name.
SEEDED_DATA = ("Administrator", "admin", "default")

# Text nodes are collected from visible elements only; elements marked as not-Korean on purpose are skipped:
# code/pre (ids, JSON, commands), form controls' values (user input), and anything with translate="no" or a lang
# attribute other than Korean (the "English" language switch), and data-i18n-skip (content an author wrote: a model's
# README, an edited card; values of facts).
_VISIBLE_TEXT_JS = """
() => {
  const SKIP = 'script, style, noscript, template, code, pre, kbd, samp, textarea, [translate="no"], [data-i18n-skip]';
  const notKorean = (el) => { const l = el.closest('[lang]'); return l && !l.getAttribute('lang').startsWith('ko'); };
  const visible = (el) => el.checkVisibility ? el.checkVisibility({ checkOpacity: true, checkVisibilityCSS: true })
                                             : el.getClientRects().length > 0;
  const out = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const text = n.nodeValue.trim();
    const el = n.parentElement;
    if (!text || !el || el.closest(SKIP) || notKorean(el) || !visible(el)) continue;
    out.push({ text, where: el.tagName.toLowerCase() + (el.className && typeof el.className === 'string'
      ? '.' + el.className.trim().split(/\\s+/).slice(0, 2).join('.') : '') });
  }
  for (const el of document.body.querySelectorAll('[title], [aria-label], [placeholder], [alt], [aria-description]')) {
    if (el.closest(SKIP) || notKorean(el) || !visible(el)) continue;
    for (const attr of ['title', 'aria-label', 'placeholder', 'alt', 'aria-description']) {
      const v = (el.getAttribute(attr) || '').trim();
      if (v) out.push({ text: v, where: `${el.tagName.toLowerCase()}[${attr}]` });
    }
  }
  if (document.title) out.push({ text: document.title, where: 'title' });
  return { lang: document.documentElement.lang, texts: out };
}
"""

_LATIN_WORD = re.compile(r"[A-Za-z][A-Za-z']*")


def _english_words(text: str, allowed: frozenset[str], allow: tuple[str, ...]) -> list[str]:
    """The Latin-script words of one visible text that are not allowed: identifiers (anything with a digit, '_',
    '/', '.', '@', ':' or '=' inside a whitespace-separated chunk: ids, versions, file names, paths, e-mails, URLs,
    key prefixes) and literals quoted as code ("model", `x`) are data, not UI text, and are skipped, as are the
    strings the test allows (its own data)."""
    # A literal quoted as code ("model", `params.lr`) is a name the user types (a JSON field, a key), not UI text.
    text = re.sub(r'"[A-Za-z_][\w.-]*"|`[^`]*`|“[\x20-\x7e]+”', " ", text)  # “axops demo”: a command
    for s in sorted(allow, key=len, reverse=True):  # whole words only: allowing "ops" leaves "axops" alone
        text = re.sub(rf"(?<![\w.:/@-]){re.escape(s)}(?![\w.:/@-])", " ", text)
    words = []
    for chunk in text.split():
        core = chunk.strip("()[]{}<>\"'`,;!?…·|“”‘’")
        if re.search(r"[0-9_/@=]|\w[.:]\w|://", core):
            continue
        for word in _LATIN_WORD.findall(core):
            word = word.strip("'")
            if word and word not in allowed and word.lower() not in allowed:
                words.append(word)
    return words


def check_page(page: Page, allow: tuple[str, ...] | list[str] = (), *, wait_ms: int = 150) -> None:
    """Fail listing the English words visible in the Korean UI (text of the page and of open dialogs, menus and
    drawers; title / aria-label / placeholder / alt attributes; the tab title). `allow` names the test's own data
    (model names, user names, free text it typed) that may appear verbatim. Skipped (checks nothing) when the page
    is in English. Call it once the screen has its data, e.g. after an `expect(...).to_be_visible()`."""
    if wait_ms:
        page.wait_for_timeout(wait_ms)  # let transitions (dialogs, snackbars) settle
    found = page.evaluate(_VISIBLE_TEXT_JS)
    if not str(found["lang"]).startswith("ko"):
        return
    allow = (*allow, *SEEDED_DATA)
    allowed = KOREAN_UI_ALLOWED | frozenset(w for a in allow for w in _LATIN_WORD.findall(a) if " " not in a)
    bad: dict[str, list[str]] = {}
    for item in found["texts"]:
        for word in _english_words(item["text"], allowed, tuple(allow)):
            samples = bad.setdefault(word, [])
            if len(samples) < 2:
                samples.append(f"{item['where']}: {item['text'][:80]!r}")
    if bad:
        lines = [f"  {w}  ← " + " | ".join(s) for w, s in sorted(bad.items())]
        raise AssertionError(f"English in the Korean UI at {page.url}:\n" + "\n".join(lines))


AXE_JS = Path(__file__).resolve().parents[1] / "web" / "node_modules" / "axe-core" / "axe.min.js"
_AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]


def check_a11y(page: Page, *, include: str | None = None, disable: tuple[str, ...] = ()) -> None:
    """Run axe-core (WCAG 2.x A and AA rules) on the page, or on the `include` selector, and fail on serious or
    critical violations with a readable list: rule, what it means, and the first offending elements. `disable`
    turns off rules by id (say why at the call site)."""
    if not AXE_JS.exists():
        raise AssertionError(f"axe-core missing at {AXE_JS}: cd web && npm ci")
    # Animations (dialog fade-in, ripple) make contrast read half-way; wait until they have finished.
    page.wait_for_function(
        "() => document.getAnimations().every(a => a.playState !== 'running' || a.effect?.getTiming().iterations === Infinity)",
        timeout=5_000,
    )
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        # Evaluated rather than added as a <script> tag: the app's CSP (script-src 'self') blocks inline scripts.
        page.evaluate(AXE_JS.read_text(encoding="utf-8"))
    options = {"runOnly": {"type": "tag", "values": _AXE_TAGS}, "resultTypes": ["violations"]}
    if disable:
        options["rules"] = {rule: {"enabled": False} for rule in disable}
    violations = page.evaluate(
        "async ([ctx, opts]) => (await window.axe.run(ctx || document, opts)).violations.map(v => ({id: v.id, "
        "impact: v.impact, help: v.help, nodes: v.nodes.map(n => ({target: n.target.join(' '), "
        "summary: (n.failureSummary || '').split('\\n').slice(1, 2).join('').trim()}))}))",
        [include, options],
    )
    serious = [v for v in violations if v["impact"] in ("serious", "critical")]
    if serious:
        lines = []
        for v in serious:
            lines.append(f"- {v['id']} ({v['impact']}): {v['help']} — {len(v['nodes'])} element(s)")
            for n in v["nodes"][:5]:
                lines.append(f"    {n['target']}  {n['summary']}")
        raise AssertionError(f"Accessibility violations at {page.url}:\n" + "\n".join(lines))


def check_screen(page: Page, allow: tuple[str, ...] | list[str] = ()) -> None:
    """Both checks at once: no English in the Korean UI, no serious accessibility violation."""
    check_page(page, allow)
    check_a11y(page)
