"""Talks to the chat route with the `websockets` library, as a Python user would, and prints
what it saw as JSON: the replies, and how each side's close went (code, reason)."""

import asyncio
import json
import sys

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed


async def main(url: str) -> None:
    seen = {}

    # A conversation the client ends: its Close must be echoed (a clean 1000, not 1006).
    async with connect(url) as socket:
        await socket.send(json.dumps({"name": "Ada"}))
        seen["reply"] = json.loads(await socket.recv())
    seen["client_close"] = [socket.close_code, socket.close_reason]

    # A conversation the server ends, at an invalid request: the error, then its Close.
    async with connect(url) as socket:
        await socket.send("not json")
        seen["error"] = json.loads(await socket.recv())
        try:
            await socket.recv()
        except ConnectionClosed:
            pass
    seen["server_close"] = [socket.close_code, socket.close_reason]

    print(json.dumps(seen))


asyncio.run(main(sys.argv[1]))
