//! A Python user talks to the chat route with the `websockets` library (nobody here wrote
//! it): replies come back, the closing handshake is clean whichever side closes, a session
//! that answers pings or pings itself outlives the idle timeout, and a stopping server says
//! goodbye (Close 1001) after the reply it owes. A client that goes silent, pings unanswered,
//! is closed.

mod common;

use std::{process::Stdio, time::Duration};

use common::{TestServer, binary::Binary, tools};
use serde_json::{Value, json};
use server::config::ServeConfig;
use tokio::{
    io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader},
    net::TcpStream,
    process::Command,
};

#[tokio::test]
async fn a_websockets_client_chats_and_closes_cleanly_both_ways() {
    let Some(python) = tools::require_python_with("websockets") else { return };
    let server = TestServer::spawn().await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/websocket_client/chat.py");
    let output = Command::new(python)
        .arg(script)
        .arg(format!("ws://{}/v1/greeter/chat", server.rest_addr))
        .output()
        .await
        .expect("run the websockets client");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "the websockets client failed:\n{stderr}");
    let seen: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(seen["reply"], json!({"message": "Hello Ada"}));
    assert_eq!(seen["client_close"], json!([1000, ""]), "the client's Close was echoed");
    assert_eq!(seen["error"]["error"]["status"], "INVALID_ARGUMENT");
    assert_eq!(seen["server_close"], json!([1007, "invalid message"]), "the server closed cleanly");
}

/// SETTINGS_ENABLE_CONNECT_PROTOCOL (RFC 8441): what a client reads as "WebSocket over
/// HTTP/2 is offered here".
const ENABLE_CONNECT_PROTOCOL: &str = "8";

#[tokio::test]
async fn only_the_rest_port_advertises_websocket_over_http2() {
    let Some(python) = tools::require_python_with("hyperframe") else { return };
    let server = TestServer::spawn().await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/websocket_client/settings.py");
    for (addr, advertised) in [(server.rest_addr, Some(1)), (server.grpc_addr, None)] {
        let output =
            Command::new(&python).arg(script).arg(addr.to_string()).output().await.unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "reading SETTINGS from {addr} failed:\n{stderr}");
        let settings: Value = serde_json::from_slice(&output.stdout).unwrap();
        assert_eq!(
            settings.get(ENABLE_CONNECT_PROTOCOL).and_then(Value::as_u64),
            advertised,
            "{addr}: {settings}"
        );
        assert!(settings.get("3").is_some(), "SETTINGS were read: {settings}");
    }
}

/// RFC 8441 as a client that speaks it by hand (the `h2` package): the chat opens with an
/// extended CONNECT, answers, shares its connection with a plain call, and closes cleanly.
#[tokio::test]
async fn a_chat_over_http2_opens_with_extended_connect_and_closes_cleanly() {
    let Some(python) = tools::require_python_with("h2") else { return };
    let server = TestServer::spawn().await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/websocket_client/over_http2.py");
    let output =
        Command::new(python).arg(script).arg(server.rest_addr.to_string()).output().await.unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "the HTTP/2 WebSocket client failed:\n{stderr}");
    let seen: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        seen,
        json!({
            "settings": true,
            "enable_connect_protocol": 1,
            "status": "200",
            "reply": [1, {"message": "Hello Ada"}],
            "call_on_the_same_connection": {"message": "Hello Grace"},
            "server_close": [8, 1000],
            "stream_ended": true,
        })
    );
}

#[tokio::test]
async fn sigterm_mid_chat_answers_what_was_sent_then_closes_with_1001() {
    let Some(python) = tools::require_python_with("websockets") else { return };
    let mut server = Binary::start(&["--shutdown-timeout", "10"], &[]).await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/websocket_client/drain.py");
    let mut client = Command::new(python)
        .arg(script)
        .arg(format!("ws://{}/v1/greeter/chat", server.rest_addr))
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(client.stdout.take().unwrap()).lines();
    assert_eq!(stdout.next_line().await.unwrap().as_deref(), Some("sent"));
    server.sigterm().await;

    let seen: Value =
        serde_json::from_str(&stdout.next_line().await.unwrap().expect("the client's report"))
            .unwrap();
    assert!(client.wait().await.unwrap().success());
    assert_eq!(
        seen["replies"],
        json!([{"message": "Hello Ada"}, {"message": "Hello Grace"}]),
        "the request sent before SIGTERM was answered"
    );
    assert_eq!(seen["close"], json!([1001, "the server is shutting down"]));
    assert_eq!(seen["clean"], true, "a closing handshake, not a cut connection (1006)");
    // The session no longer holds the drain: the process ends well before its 10 s deadline.
    let exited = tokio::time::timeout(Duration::from_secs(5), server.child.wait())
        .await
        .expect("the server exits once its last session has closed")
        .unwrap();
    assert!(exited.success());
}

#[tokio::test]
async fn sessions_that_answer_or_send_pings_outlive_the_idle_timeout() {
    let Some(python) = tools::require_python_with("websockets") else { return };
    let mut config = ServeConfig::loopback();
    config.connections.idle_timeout = Duration::from_secs(1);
    let server = TestServer::spawn_with(config).await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/websocket_client/keepalive.py");
    let output = Command::new(python)
        .arg(script)
        .arg(format!("ws://{}/v1/greeter/chat", server.rest_addr))
        .arg("1")
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "the websockets client failed:\n{stderr}");
    let seen: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(seen["answering_pings"], json!({"message": "Hello Ada"}));
    assert_eq!(seen["pinging"], json!({"message": "Hello Ada"}));
}

/// A client that opens a chat and then neither sends nor answers anything: after the idle
/// timeout it gets a Ping, after as long again a Close 1001, and the socket is closed.
#[tokio::test]
async fn a_silent_session_is_pinged_then_closed() {
    let mut config = ServeConfig::loopback();
    config.connections.idle_timeout = Duration::from_secs(1);
    let server = TestServer::spawn_with(config).await;
    let mut socket = TcpStream::connect(server.rest_addr).await.unwrap();
    socket
        .write_all(
            format!(
                "GET /v1/greeter/chat HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\n\
                 Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
                 Sec-WebSocket-Version: 13\r\n\r\n",
                server.rest_addr
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    let started = tokio::time::Instant::now();
    let mut received = Vec::new();
    let read_all = async {
        let mut buffer = [0u8; 1024];
        loop {
            let n = socket.read(&mut buffer).await.unwrap_or(0);
            if n == 0 {
                break;
            }
            received.extend_from_slice(&buffer[..n]);
        }
    };
    tokio::time::timeout(Duration::from_secs(10), read_all)
        .await
        .expect("the server closes the socket");
    let elapsed = started.elapsed();
    let head_end = received.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    assert!(received.starts_with(b"HTTP/1.1 101"), "{:?}", String::from_utf8_lossy(&received));
    let frames = server_frames(&received[head_end..]);
    let opcodes: Vec<u8> = frames.iter().map(|(opcode, _)| *opcode).collect();
    assert_eq!(opcodes, [0x9, 0x8], "a Ping, then a Close: {frames:?}");
    let close = &frames[1].1;
    assert_eq!(u16::from_be_bytes([close[0], close[1]]), 1001);
    assert_eq!(&close[2..], b"no reply to a ping within the idle timeout");
    assert!(elapsed >= Duration::from_secs(2), "idle timeout twice: {elapsed:?}");
}

/// The frames a server sent (unmasked, RFC 6455 section 5.2): (opcode, payload).
fn server_frames(mut bytes: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut frames = Vec::new();
    while bytes.len() >= 2 {
        let opcode = bytes[0] & 0x0f;
        let len = usize::from(bytes[1] & 0x7f);
        assert!(len < 126 && bytes[1] & 0x80 == 0, "a short unmasked frame");
        frames.push((opcode, bytes[2..2 + len].to_vec()));
        bytes = &bytes[2 + len..];
    }
    frames
}
