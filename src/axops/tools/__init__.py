"""The tool registry: team-owned, versioned tools an agent may call — HTTP operations (imported from
OpenAPI documents), tools of MCP servers, and Python functions run in the sandbox — with their
parameter schemas, timeouts, approval rules, encrypted credentials and call analytics."""
