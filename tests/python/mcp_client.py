"""Drive `pincer mcp` with the official MCP Python SDK's high-level `Client`.

Usage: mcp_client.py MODE stdio PINCER HOME
       mcp_client.py MODE http URL TOKEN

MODE is a `Client(mode=...)` value: `auto` (probe `server/discover`, fall back to the
handshake) or a protocol version such as `2026-07-28`. The home serves the approval
probe (`approve__ask`, asking about the action `report`) and an echo (`echo__echo`).
The script lists the tools, calls the echo, and calls the probe twice: once answering
its approval question yes and once no. It prints one JSON line with what it saw, for
the Rust test to check.
"""

import asyncio
import json
import sys

import httpx2
import mcp_types as types
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

ANSWERS = []
QUESTIONS = []


async def elicit(context, params):
    QUESTIONS.append(params.message)
    approve = ANSWERS.pop(0)
    return types.ElicitResult(action="accept", content={"approve": approve})


def text(result):
    return "\n".join(c.text for c in result.content if getattr(c, "text", None) is not None)


async def main():
    mode, transport = sys.argv[1], sys.argv[2]
    if transport == "stdio":
        # MCP clients start servers with a bare environment: the home goes by flag.
        server = StdioServerParameters(command=sys.argv[3], args=["--home", sys.argv[4], "mcp"])
    else:
        url, token = sys.argv[3], sys.argv[4]
        http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30)
        server = streamable_http_client(url, http_client=http)
    async with Client(server, mode=mode, elicitation_callback=elicit, read_timeout_seconds=60) as client:
        tools = await client.list_tools()
        echo = await client.call_tool("echo__echo", {"text": "from python"})
        ANSWERS.extend([True, False])
        yes = await client.call_tool("approve__ask", {"action": "report"})
        no = await client.call_tool("approve__ask", {"action": "report"})
        version = client.protocol_version
        print(json.dumps({
            "protocol": str(version) if version is not None else None,
            "tools": sorted(t.name for t in tools.tools),
            "echo": text(echo),
            "yes": text(yes),
            "no": text(no),
            "questions": QUESTIONS,
        }))


asyncio.run(main())
