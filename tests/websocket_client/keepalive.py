"""Two chats that stay quiet longer than the server's idle timeout, given in seconds: one only
answers the server's pings (what `websockets` does by itself), one also pings the server.
Each then sends a request; prints the replies as JSON."""

import asyncio
import json
import sys

from websockets.asyncio.client import connect


async def quiet_then_ask(url: str, silence: float, ping_interval) -> dict:
    async with connect(url, ping_interval=ping_interval) as socket:
        await asyncio.sleep(silence)
        await socket.send(json.dumps({"name": "Ada"}))
        return json.loads(await socket.recv())


async def main(url: str, idle_timeout: float) -> None:
    silence = 2.5 * idle_timeout
    seen = {
        "answering_pings": await quiet_then_ask(url, silence, None),
        "pinging": await quiet_then_ask(url, silence, idle_timeout / 3),
    }
    print(json.dumps(seen))


asyncio.run(main(sys.argv[1], float(sys.argv[2])))
