"""Drives any `pluto mcp serve …` command with the official MCP Python SDK (`mcp`).

    python tests/mcp_calls.py CALLS_JSON COMMAND [ARG...]

CALLS_JSON is a list of [tool, arguments] pairs. Starts COMMAND as a stdio MCP server, lists its
tools and makes the calls in order; prints one JSON object for the Rust tests (tests/mcp.rs):
{"server", "tools": [{"name", "schema"}], "results": [{"is_error", "text", "structured"}]}.
"""

import asyncio
import json
import os
import sys

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client


async def main(calls, command, *args):
    # The whole environment: the SDK passes only a few variables by default.
    params = StdioServerParameters(command=command, args=list(args), env=dict(os.environ))
    out = {"results": []}
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as session:
            info = await session.initialize()
            out["server"] = info.serverInfo.name
            listed = await session.list_tools()
            out["tools"] = [{"name": t.name, "schema": t.inputSchema} for t in listed.tools]
            for tool, arguments in json.loads(calls):
                result = await session.call_tool(tool, arguments)
                out["results"].append({
                    "is_error": bool(result.isError),
                    "text": "".join(getattr(c, "text", "") for c in result.content),
                    "structured": result.structuredContent,
                })
    print(json.dumps(out))


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:]))
