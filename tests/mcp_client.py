"""Drives `pluto mcp serve` with the official MCP Python SDK (`mcp`), as any MCP client would.

    python tests/mcp_client.py PLUTO AGENT WORKSPACE [--sandbox]

Lists the agent's tools and calls `read_file` and `write_file`; prints what it saw as one JSON
object for the Rust test (tests/mcp.rs).
"""

import asyncio
import json
import sys

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client


async def main(pluto, agent, workspace, *extra):
    params = StdioServerParameters(
        command=pluto,
        args=["mcp", "serve", "--agent", agent, "--workspace", workspace, *extra],
    )
    out = {}
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as session:
            info = await session.initialize()
            out["server"] = info.serverInfo.name
            tools = await session.list_tools()
            out["tools"] = sorted(t.name for t in tools.tools)
            out["schemas_ok"] = all(t.inputSchema.get("type") == "object" for t in tools.tools)
            written = await session.call_tool("write_file", {"path": "from-mcp.txt", "content": "written over MCP\n"})
            out["write_error"] = written.isError
            read_back = await session.call_tool("read_file", {"path": "from-mcp.txt"})
            out["read"] = read_back.content[0].text
            out["read_details"] = read_back.structuredContent
            escape = await session.call_tool("read_file", {"path": "../outside.txt"})
            out["escape_error"] = escape.isError
            out["escape_text"] = escape.content[0].text
    print(json.dumps(out))


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:]))
