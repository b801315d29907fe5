"""Drives `pluto serve`'s /mcp/{agent} with the official MCP Python SDK's streamable HTTP client.

    python tests/mcp_http_client.py URL KEY

Prints the tools and a read_file result as one JSON object for tests/mcp.rs.
"""

import asyncio
import json
import sys

from mcp import ClientSession
from mcp.client.streamable_http import streamablehttp_client


async def main(url, key):
    headers = {"Authorization": f"Bearer {key}"} if key != "-" else {}
    out = {}
    async with streamablehttp_client(url, headers=headers) as (read, write, _):
        async with ClientSession(read, write) as session:
            await session.initialize()
            tools = await session.list_tools()
            out["tools"] = sorted(t.name for t in tools.tools)
            result = await session.call_tool("read_file", {"path": "hello.txt"})
            out["read"] = result.content[0].text
            out["is_error"] = result.isError
    print(json.dumps(out))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
