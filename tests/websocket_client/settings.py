"""Opens an HTTP/2 connection (prior knowledge) with hyperframe and prints the server's
SETTINGS as JSON, {identifier: value}."""

import json
import socket
import sys

from hyperframe.frame import Frame, SettingsFrame

host, port = sys.argv[1].rsplit(":", 1)
with socket.create_connection((host, int(port)), timeout=5) as conn:
    conn.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + SettingsFrame(0).serialize())
    buffer = b""
    while True:
        while len(buffer) < 9:
            buffer += conn.recv(65536)
        frame, length = Frame.parse_frame_header(memoryview(buffer[:9]))
        while len(buffer) < 9 + length:
            buffer += conn.recv(65536)
        frame.parse_body(memoryview(buffer[9 : 9 + length]))
        buffer = buffer[9 + length :]
        if isinstance(frame, SettingsFrame) and "ACK" not in frame.flags:
            print(json.dumps({str(k): v for k, v in frame.settings.items()}))
            break
