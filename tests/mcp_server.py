"""A small MCP server for the tests: `add`, the Korean-aware `hangul_stats`, and `whoami` (what the
process sees, for the sandbox checks). Run as a script: `python mcp_server.py http PORT` (streamable
HTTP on 127.0.0.1:PORT, path /mcp) or `python mcp_server.py stdio`. `python mcp_server.py http PORT v2`
is the same server upgraded: `add` takes a third number and `whoami` is gone (refresh tests)."""

from __future__ import annotations

import os
import sys
import uuid
from typing import TypedDict

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

server = MCPServer("axops-test")
BOOT = uuid.uuid4().hex


V2 = sys.argv[3:] == ["v2"]

if V2:

    @server.tool(description="Add three integers.")
    def add(a: int, b: int, c: int) -> int:
        return a + b + c

else:

    @server.tool(description="Add two integers.")
    def add(a: int, b: int) -> int:
        return a + b


class Stats(TypedDict):
    syllables: int
    words: int


@server.tool(description="Count the Hangul syllables and the words of a Korean text; fail on an empty one.")
def hangul_stats(text: str) -> Stats:
    if not text.strip():
        raise ToolError("빈 텍스트입니다")
    syllables = sum(1 for ch in text if "\uac00" <= ch <= "\ud7a3")
    return Stats(syllables=syllables, words=len(text.split()))


class Seen(TypedDict):
    uid: int
    boot: str  # random per process (pids repeat in the sandbox's own pid namespace)
    visible: list[str]
    env: list[str]


if not V2:

    @server.tool(description="Report how the server process sees its environment (sandbox checks).")
    def whoami() -> Seen:
        visible = [p for p in ("/root", "/work/main", "/etc/shadow") if os.path.exists(p)]
        return Seen(
            uid=os.getuid(),
            boot=BOOT,
            visible=visible,
            env=sorted(k for k in os.environ if k.startswith("AXOPS")),
        )


if __name__ == "__main__":
    if sys.argv[1] == "http":
        server.run("streamable-http", host="127.0.0.1", port=int(sys.argv[2]))
    else:
        server.run("stdio")
