"""The permission matrix: the source the `roles`/`role_permissions` tables are seeded from.

Permissions are `resource:action` scopes. Roles map to sets of them; API keys carry a subset of
their owner's. README.md shows this table (tests/unit/test_permissions.py keeps them in step).
"""

PERMISSIONS: dict[str, str] = {
    "users:admin": "Create, edit, deactivate users and reset their passwords",
    "teams:admin": "Create and edit teams and their membership",
    "policies:admin": "Edit roles, data and model access policies",
    "audit:read": "Read the audit log (own teams; Admin: everything)",
    "apikeys:write": "Issue and revoke own API keys",
    "models:read": "Browse and download models",
    "models:write": "Register, upload, edit and archive models",
    "models:import_server": "Import model versions from server directories inside AXOPS_IMPORT_ROOTS",
    "datasets:read": "Browse and preview datasets",
    "datasets:write": "Upload datasets, run scans, create masked and split versions",
    "datasets:approve": "Approve or reject dataset versions for training",
    "datasets:override_pii": "Approve a dataset version despite unmasked high-risk PII (audited)",
    "training:read": "See fine-tuning jobs, logs and experiments",
    "training:write": "Create, cancel and retry fine-tuning jobs",
    "deployments:read": "See deployments and their status",
    "deployments:write": "Deploy, scale, promote and roll back models",
    "gateway:invoke": "Call models through the /v1 gateway",
    "gateway:admin": "Edit gateway routes, providers, limits and budgets",
    "prompts:read": "Browse prompts, their versions, labels and diffs; render them",
    "prompts:write": "Create prompts and versions, move labels, import and archive prompts",
    "eval:read": "See evaluation sets, runs, reports, suites and review queues",
    "eval:write": "Create evaluation sets, suites and runs; cancel runs",
    "eval:review": "Annotate review queue items",
    "eval:gate_override": "Promote a model version to production despite a failing or missing evaluation (audited)",
    "infra:read": "See GPUs, nodes, queues and costs",
    "infra:admin": "Manage GPU quotas, nodes and queue priorities",
    "approvals:decide": "Approve or reject production promotions, production deployments and access requests",
    "alerts:write": "Create and edit own teams' alert rules, channels, silences and SLOs; acknowledge alerts",
    "tools:read": "See tools, MCP servers, their versions and tool analytics",
    "tools:write": "Create and version HTTP, MCP and Python tools; import OpenAPI documents; test-run tools",
    "tools:admin": "Register MCP servers started as local commands (stdio), run in the sandbox",
    "agents:read": "See agents, workflows, templates and their runs and traces",
    "agents:write": "Create agents and workflows, run them, approve their tool calls, install and share templates",
}

_READ = [
    "models:read",
    "datasets:read",
    "training:read",
    "deployments:read",
    "infra:read",
    "prompts:read",
    "eval:read",
    "tools:read",
    "agents:read",
]

ROLE_DESCRIPTIONS = {
    "admin": "Everything, including users, teams and policies",
    "operator": "GPU/cluster management and deployment approval",
    "developer": "Upload models and data, run training, call models",
    "viewer": "Read-only access",
}

ROLE_PERMISSIONS: dict[str, list[str]] = {
    "admin": list(PERMISSIONS),
    "operator": [
        *_READ,
        "audit:read",
        "apikeys:write",
        "datasets:approve",
        "deployments:write",
        "gateway:invoke",
        "gateway:admin",
        "infra:admin",
        "approvals:decide",
        "alerts:write",
        "prompts:write",
        "eval:write",
        "eval:review",
    ],
    "developer": [
        *_READ,
        "apikeys:write",
        "models:write",
        "datasets:write",
        "training:write",
        "deployments:write",
        "gateway:invoke",
        "prompts:write",
        "eval:write",
        "eval:review",
        "alerts:write",
        "tools:write",
        "agents:write",
    ],
    "viewer": _READ,
}


def markdown_table() -> str:
    roles = list(ROLE_PERMISSIONS)
    lines = ["| permission | " + " | ".join(r.capitalize() for r in roles) + " | what it allows |"]
    lines.append("|---|" + "---|" * len(roles) + "---|")
    for name, description in PERMISSIONS.items():
        marks = " | ".join("✓" if name in ROLE_PERMISSIONS[r] else "" for r in roles)
        lines.append(f"| `{name}` | {marks} | {description} |")
    return "\n".join(lines)
