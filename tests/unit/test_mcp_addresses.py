"""The address rule of streamable-HTTP MCP servers: public addresses only, unless the admin's
AXOPS_MCP_ALLOWED_NETWORKS names the network; URL forms that smuggle credentials or other schemes."""

from __future__ import annotations

import pytest

from axops.tools.mcp import McpServerSpec, Unavailable, call, check_address, check_url


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/mcp",
        "http://169.254.169.254/latest/meta-data",
        "http://10.1.2.3/mcp",
        "http://[::1]/mcp",
        "http://[::ffff:127.0.0.1]/mcp",
        "http://[fe80::1]/mcp",
        "http://0.0.0.0/mcp",
        "http://localhost:9/mcp",
    ],
)
async def test_private_addresses_refused_by_default(url):
    with pytest.raises(Unavailable, match="AXOPS_MCP_ALLOWED_NETWORKS"):
        await check_address(url, "")


async def test_allowed_networks_admit_only_what_they_name():
    await check_address("http://127.0.0.1:9/mcp", "127.0.0.0/8")
    await check_address("http://10.1.2.3/mcp", "192.168.0.0/16, 10.0.0.0/8")
    with pytest.raises(Unavailable):
        await check_address("http://169.254.169.254/", "127.0.0.0/8")
    await check_address("http://8.8.8.8/mcp", "")  # public: no DNS needed, no network used


def test_url_forms():
    assert check_url("https://mcp.example.com/mcp") == ""
    assert check_url("http://user:pw@mcp.example.com/mcp")
    assert check_url("file:///etc/passwd")
    assert check_url("ftp://mcp.example.com/")
    assert check_url("http:///mcp")


async def test_a_refused_call_is_an_outcome_not_an_exception():
    out = await call(McpServerSpec("http", url="http://169.254.169.254/mcp"), "x", {}, 5)
    assert out.ok is False and out.error_kind == "unavailable" and "AXOPS_MCP_ALLOWED_NETWORKS" in out.error
    out = await call(McpServerSpec("stdio", command=[]), "x", {}, 5)
    assert out.ok is False and out.error_kind == "unavailable"
