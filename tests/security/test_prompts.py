"""Attacks on the prompt registry: another team's prompts (404 everywhere, as if missing), writes without
the permission, sandbox escapes and exhaustion through the render endpoint, oversized templates and
undeclared variables at save time, hostile YAML imports — each refused with nothing half-written."""

from __future__ import annotations

import httpx
import pytest
import yaml

from tests.factories import bearer, make_account, make_key, make_prompt

SECRET = "the victims' system prompt"


def _code(r: httpx.Response) -> str:
    return r.json()["type"].rsplit("/", 1)[-1]


def _victim_prompt(api, victim, visibility="team") -> dict:
    return make_prompt(
        api,
        victim.headers,
        "victim-bot",
        [{"role": "system", "content": SECRET + " {{ x }}"}],
        labels=["production"],
        team_id=victim.team["id"],
        visibility=visibility,
    )


def _attempts(api, headers) -> dict[str, httpx.Response]:
    version = {"kind": "text", "template": "pwned", "variables": []}
    overwrite = yaml.safe_dump(
        {"name": "victim-bot", "versions": [{"version": 1, **version}], "labels": {"production": 1}}
    )
    return {
        "get": api.get("/api/prompts/victim-bot", headers=headers),
        "versions": api.get("/api/prompts/victim-bot/versions", headers=headers),
        "version": api.get("/api/prompts/victim-bot/versions/1", headers=headers),
        "resolve": api.get("/api/prompts/resolve?ref=victim-bot@production", headers=headers),
        "history": api.get("/api/prompts/victim-bot/labels/history", headers=headers),
        "diff": api.get("/api/prompts/victim-bot/diff?base=1&head=1", headers=headers),
        "render": api.post("/api/prompts/victim-bot/render", json={"variables": {"x": "1"}}, headers=headers),
        "export": api.get("/api/prompts/victim-bot/export", headers=headers),
        "patch": api.patch("/api/prompts/victim-bot", json={"description": "pwned"}, headers=headers),
        "archive": api.post("/api/prompts/victim-bot/archive", headers=headers),
        "new version": api.post("/api/prompts/victim-bot/versions", json=version, headers=headers),
        "label move": api.put("/api/prompts/victim-bot/labels/production", json={"version": 1}, headers=headers),
        "label delete": api.delete("/api/prompts/victim-bot/labels/production", headers=headers),
        "import overwrite": api.post(
            "/api/prompts/import", content=overwrite, headers={**headers, "content-type": "application/yaml"}
        ),
    }


def _untouched(api, victim) -> None:
    p = api.get("/api/prompts/victim-bot", headers=victim.headers).json()
    assert p["latest_version"] == 1 and p["labels"] == {"production": 1} and p["archived_at"] is None
    assert p["description"] == ""
    v = api.get("/api/prompts/victim-bot/versions/1", headers=victim.headers).json()
    assert SECRET in v["template"][0]["content"]


def test_another_teams_prompt_answers_404_everywhere(api, victim, attacker):
    _victim_prompt(api, victim)
    missing = api.get("/api/prompts/no-such-prompt", headers=attacker.headers)
    for what, r in _attempts(api, attacker.headers).items():
        assert r.status_code == 404, (what, r.status_code, r.text)
        assert _code(r) == "prompt_not_found", (what, r.text)
        assert SECRET not in r.text and "victims" not in r.text, what
    assert set(missing.json()) == set(_attempts(api, attacker.headers)["get"].json())
    assert api.get("/api/prompts", headers=attacker.headers).json() == {"items": [], "next_cursor": None, "total": 0}
    _untouched(api, victim)


def test_an_organisation_wide_prompt_is_readable_but_only_its_team_changes_it(api, victim, attacker):
    _victim_prompt(api, victim, visibility="organization")
    attempts = _attempts(api, attacker.headers)
    for what in ("get", "versions", "version", "resolve", "history", "diff", "render", "export"):
        assert attempts[what].status_code == 200, (what, attempts[what].text)
    for what in ("patch", "archive", "new version", "label move", "label delete", "import overwrite"):
        r = attempts[what]
        assert r.status_code == 403 and _code(r) == "team_members_only", (what, r.text)
    _untouched(api, victim)


def test_readers_cannot_write(api, admin, victim, victim_team):
    _victim_prompt(api, victim)
    viewer = make_account(api, admin, "victim-viewer", "viewer", victim_team)
    attempts = _attempts(api, viewer.headers)
    for what in ("get", "versions", "render", "export", "resolve"):
        assert attempts[what].status_code == 200, (what, attempts[what].text)
    for what in ("patch", "archive", "new version", "label move", "label delete", "import overwrite"):
        r = attempts[what]
        assert r.status_code == 403 and _code(r) == "permission_denied", (what, r.text)
        assert r.json()["permission"] == "prompts:write"
    r = api.post("/api/prompts", json={"name": "mine"}, headers=viewer.headers)
    assert r.status_code == 403 and r.json()["permission"] == "prompts:write"
    # an API key without prompts:read reads nothing
    key = make_key(api, victim.headers, "invoke-only", scopes=["gateway:invoke"])["key"]
    r = api.get("/api/prompts/victim-bot", headers=bearer(key))
    assert r.status_code == 403 and r.json()["permission"] == "prompts:read"
    _untouched(api, victim)


ESCAPES = {
    "class internals": "{{ ''.__class__.__mro__ }}",
    "globals through cycler": "{{ cycler.__init__.__globals__ }}",
    "subclasses": "{{ ().__class__.__base__.__subclasses__() }}",
    "nested huge loops": "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}",
    "a billion characters": "{{ 'x' * 10**9 }}",
    "a huge format width": "{{ '{:>100000000}'.format(1) }}",
    "percent width": "{{ '%100000000d' % 1 }}",
    "center": "{{ 'x'|center(1000000000) }}",
    "recursive macro": "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}",
    "doubling": "{% set s = namespace(v='x') %}{% for i in range(64) %}{% set s.v = s.v ~ s.v %}{% endfor %}{{ s.v }}",
}


@pytest.mark.parametrize("template", ESCAPES.values(), ids=ESCAPES.keys())
def test_sandbox_escapes_are_refused_at_render_time(api, admin, victim, template):
    make_prompt(api, victim.headers, "sandbox", template, variables=[], labels=["production"])
    before = api.get("/api/audit/logs?resource_type=prompt", headers=admin).json()["items"]
    for body in ({"variables": {}}, {"variables": {}, "draft": {"kind": "text", "template": template}}):
        r = api.post("/api/prompts/sandbox/render", json=body, headers=victim.headers)
        assert r.status_code == 422, r.text
        assert _code(r) in ("prompt_render_refused", "prompt_render_limit", "prompt_render_failed"), r.text
        assert "<class" not in r.text and "__builtins__" not in r.text and "xxxxxxxxxx" not in r.text
    after = api.get("/api/audit/logs?resource_type=prompt", headers=admin).json()["items"]
    assert len(after) == len(before)
    assert api.get("/api/prompts/sandbox", headers=victim.headers).json()["latest_version"] == 1


def test_save_time_refusals(api, victim):
    make_prompt(api, victim.headers, "checked", "ok", variables=[], labels=[])

    def save(template, variables=()):
        body = {"kind": "text", "template": template, "variables": list(variables)}
        return api.post("/api/prompts/checked/versions", json=body, headers=victim.headers)

    r = save("a" * 50_001)
    assert r.status_code == 422 and _code(r) == "prompt_template_invalid" and "50,000" in r.json()["detail"]
    r = save("Hi {{ secret_env }}")
    assert r.status_code == 422 and _code(r) == "prompt_template_invalid" and "secret_env" in r.json()["detail"]
    r = save("{{ _private }}", [{"name": "_private", "type": "string"}])
    assert r.status_code == 422  # a name that is not a variable name
    r = save("{% set _x = 1 %}{{ _x }}")
    assert r.status_code == 422 and _code(r) == "prompt_template_invalid"
    r = save("{{ a }}", [{"name": "a", "type": "integer", "default": "not a number"}])
    assert r.status_code == 422 and _code(r) == "prompt_template_invalid"
    r = api.post(
        "/api/prompts/checked/versions",
        json={"kind": "chat", "template": [{"role": "root", "content": "x"}], "variables": []},
        headers=victim.headers,
    )
    assert r.status_code == 422
    assert api.get("/api/prompts/checked", headers=victim.headers).json()["latest_version"] == 1


BOMB = """
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
name: bomb
versions: [*h]
"""


def _valid_file(name: str, second_template: str = "v2 {{ x }}") -> str:
    var = [{"name": "x", "type": "string"}]
    return yaml.safe_dump(
        {
            "name": name,
            "versions": [
                {"version": 1, "kind": "text", "template": "v1 {{ x }}", "variables": var},
                {"version": 2, "kind": "text", "template": second_template, "variables": var},
            ],
            "labels": {"production": 2},
        }
    )


@pytest.mark.parametrize(
    ("content", "status"),
    [
        (BOMB, 422),
        ("name: loop\ntags: &t [*t]\n", 422),
        ("- just\n- a list\n", 422),
        ("'a scalar'", 422),
        ("name: [unclosed", 422),
        ("!!python/object/apply:os.system ['touch /tmp/axops-pwned']", 422),
        ("name: imported\nversions: []\nowner: mallory\n", 422),  # an unknown field
        (_valid_file("imported", "v2 {{ x }"), 422),  # the second version's syntax error: no first version either
        (_valid_file("imported", "v2 {{ undeclared }}"), 422),
        (_valid_file("imported").replace("production: 2", "production: 7"), 422),
        ("name: imported\n" + "#" * (1024 * 1024 + 10) + "\n", 413),
        ("\xff\xfe not utf-8", 422),
    ],
    ids=[
        "yaml bomb",
        "recursive alias",
        "a list",
        "a scalar",
        "broken yaml",
        "python tag",
        "unknown field",
        "syntax error in v2",
        "undeclared variable",
        "label at a missing version",
        "over 1 MiB",
        "not utf-8",
    ],
)
def test_hostile_imports_are_refused_whole(api, admin, victim, content, status):
    raw = content.encode("latin-1") if content.startswith("\xff") else content.encode()
    r = api.post("/api/prompts/import", content=raw, headers={**victim.headers, "content-type": "application/yaml"})
    assert r.status_code == status, r.text
    assert api.get("/api/prompts?include_archived=true", headers=victim.headers).json()["total"] == 0
    assert api.get("/api/audit/logs?resource_type=prompt", headers=admin).json()["items"] == []


def test_an_import_into_an_existing_prompt_is_all_or_nothing(api, victim):
    make_prompt(api, victim.headers, "imported", "v1 {{ x }}", labels=["production"])
    broken = yaml.safe_load(_valid_file("imported"))
    broken["versions"].append(
        {"version": 3, "kind": "text", "template": "v3 {% for %}", "variables": [{"name": "x", "type": "string"}]}
    )
    r = api.post(
        "/api/prompts/import",
        content=yaml.safe_dump(broken),
        headers={**victim.headers, "content-type": "application/yaml"},
    )
    assert r.status_code == 422 and _code(r) == "prompt_template_invalid" and r.json()["version"] == 3, r.text
    p = api.get("/api/prompts/imported", headers=victim.headers).json()
    assert p["latest_version"] == 1 and p["labels"] == {"production": 1}
    r = api.post(
        "/api/prompts/import",
        content=b'{"name": "imported"}',
        headers={**victim.headers, "content-type": "application/json"},
    )
    assert r.status_code == 415
