"""Holds a chat open with the `websockets` library while the server is stopped: one exchange,
then a second request, then "sent" on stdout (the test sends SIGTERM on it). Prints, as JSON,
every reply and how the server closed (code, reason, and whether the close handshake was
clean)."""

import asyncio
import json
import sys

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, ConnectionClosedOK


async def main(url: str) -> None:
    seen = {"replies": []}
    async with connect(url, ping_interval=None) as socket:
        await socket.send(json.dumps({"name": "Ada"}))
        seen["replies"].append(json.loads(await socket.recv()))
        await socket.send(json.dumps({"name": "Grace"}))
        print("sent", flush=True)
        try:
            while True:
                seen["replies"].append(json.loads(await socket.recv()))
        except ConnectionClosed as closed:
            seen["clean"] = isinstance(closed, ConnectionClosedOK)
    seen["close"] = [socket.close_code, socket.close_reason]
    print(json.dumps(seen))


asyncio.run(main(sys.argv[1]))
