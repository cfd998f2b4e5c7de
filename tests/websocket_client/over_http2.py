"""A WebSocket chat over HTTP/2 (RFC 8441), driven by hand with the `h2` package: read the
server's SETTINGS, open the chat with an extended CONNECT (`:protocol websocket`), exchange a
message, make a plain REST call on the same connection while the session is open, then close
the session with a Close frame and wait for the server's. Prints what it saw as JSON.

Usage: python over_http2.py HOST:PORT
"""

import json
import os
import socket
import struct
import sys

import h2.config
import h2.connection
import h2.events
import h2.settings

host, port = sys.argv[1].rsplit(":", 1)
conn = socket.create_connection((host, int(port)), timeout=10)
h2c = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
h2c.initiate_connection()
conn.sendall(h2c.data_to_send())

seen = {}
data = {}  # stream id -> bytes received
ended = set()
headers = {}


def pump(until) -> None:
    """Reads and handles frames until `until()` holds."""
    while not until():
        chunk = conn.recv(65536)
        if not chunk:
            raise SystemExit("the server closed the connection")
        for event in h2c.receive_data(chunk):
            if isinstance(event, h2.events.RemoteSettingsChanged):
                setting = event.changed_settings.get(h2.settings.SettingCodes.ENABLE_CONNECT_PROTOCOL)
                if setting is not None:
                    seen["enable_connect_protocol"] = setting.new_value
                seen["settings"] = True
            elif isinstance(event, h2.events.ResponseReceived):
                headers[event.stream_id] = {k.decode(): v.decode() for k, v in event.headers}
            elif isinstance(event, h2.events.DataReceived):
                data[event.stream_id] = data.get(event.stream_id, b"") + event.data
                h2c.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            elif isinstance(event, h2.events.StreamEnded):
                ended.add(event.stream_id)
            elif isinstance(event, h2.events.StreamReset):
                # NO_ERROR after the server's END_STREAM tells the client to stop sending
                # (RFC 9113, section 8.1): an orderly end; any other code is a failure.
                if event.error_code != 0 or event.stream_id not in ended:
                    raise SystemExit(f"stream {event.stream_id} reset: {event.error_code!r}")
        conn.sendall(h2c.data_to_send())


def client_frame(opcode: int, payload: bytes) -> bytes:
    """A masked client frame (RFC 6455, section 5.2), short payloads only."""
    mask = os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return bytes([0x80 | opcode, 0x80 | len(payload)]) + mask + masked


def server_frame(stream_id: int):
    """The next whole frame the server sent on the stream: (opcode, payload)."""
    pump(lambda: len(data.get(stream_id, b"")) >= 2 and len(data[stream_id]) >= 2 + (data[stream_id][1] & 0x7F))
    buffer = data[stream_id]
    length = buffer[1] & 0x7F
    data[stream_id] = buffer[2 + length:]
    return buffer[0] & 0x0F, buffer[2:2 + length]


pump(lambda: "settings" in seen)
chat = h2c.get_next_available_stream_id()
h2c.send_headers(chat, [
    (":method", "CONNECT"), (":protocol", "websocket"), (":scheme", "http"),
    (":path", "/v1/greeter/chat"), (":authority", sys.argv[1]), ("sec-websocket-version", "13"),
])
conn.sendall(h2c.data_to_send())
pump(lambda: chat in headers)
seen["status"] = headers[chat][":status"]

h2c.send_data(chat, client_frame(0x1, json.dumps({"name": "Ada"}).encode()))
conn.sendall(h2c.data_to_send())
opcode, payload = server_frame(chat)
seen["reply"] = [opcode, json.loads(payload)]

# A plain call on the same connection while the session is open.
call = h2c.get_next_available_stream_id()
h2c.send_headers(call, [
    (":method", "GET"), (":scheme", "http"), (":path", "/v1/greeter/hello/Grace"),
    (":authority", sys.argv[1]),
], end_stream=True)
conn.sendall(h2c.data_to_send())
pump(lambda: call in ended)
seen["call_on_the_same_connection"] = json.loads(data[call])

h2c.send_data(chat, client_frame(0x8, struct.pack("!H", 1000)))
conn.sendall(h2c.data_to_send())
opcode, payload = server_frame(chat)
seen["server_close"] = [opcode, struct.unpack("!H", payload[:2])[0]]
# The server ends its side of the stream (END_STREAM) once the session is closed.
pump(lambda: chat in ended)
seen["stream_ended"] = True
print(json.dumps(seen))
