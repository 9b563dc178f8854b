"""A hostile MCP server for the attack tests: `flood` answers with `n` characters of text.
Run: `python mcp_flood_server.py PORT` (streamable HTTP on 127.0.0.1:PORT, path /mcp)."""

from __future__ import annotations

import sys

from mcp.server.mcpserver import MCPServer

server = MCPServer("axops-flood")


@server.tool(description="Answer with n characters.")
def flood(n: int) -> str:
    return "x" * n


if __name__ == "__main__":
    server.run("streamable-http", host="127.0.0.1", port=int(sys.argv[1]))
