//! SayHelloBidiStream as a WebSocket at `GET /v1/greeter/chat` (over HTTP/2, an extended
//! CONNECT to it: RFC 8441). A text frame carries a
//! `HelloRequest` in JSON and is answered by a `HelloReply` in JSON; a binary frame carries
//! protobuf and is answered in protobuf. As on gRPC, the first invalid request ends the
//! conversation: the client gets the error in the API's JSON shape, then a close frame. A
//! client's Close is echoed, as RFC 6455 asks. Replies are written with gRPC's policy: those
//! ready together go out together, and none waits for a later one. The server's request timeout
//! bounds the wait for each message, as it does for a gRPC bidi stream: a session silent for
//! longer gets a DEADLINE_EXCEEDED error and Close 1008.

use std::time::Duration;

use tokio::time::Instant;

use axum::{
    Extension,
    extract::{
        State,
        ws::{
            CloseFrame, Message, WebSocket, WebSocketUpgrade, close_code,
            rejection::WebSocketUpgradeRejection,
        },
    },
    http::{HeaderMap, HeaderValue, Method, Version, header::SEC_WEBSOCKET_VERSION},
    response::{IntoResponse, Response},
};
use futures_util::{FutureExt as _, SinkExt as _};
use prost::Message as _;

use super::{encoding::decode_json_object, error::ApiError};
use crate::serving::Sessions;
use contract::{
    greeter::Greeter,
    proto::{HelloReply, HelloRequest},
};

/// What bounds a chat session, given to the route by the router.
#[derive(Debug, Clone)]
pub(crate) struct SessionLimits {
    /// The longest wait for the client's next message (the server's request timeout).
    pub(crate) message_timeout: Duration,
    /// The longest silence, any frame counted, before the session pings its client, and then
    /// before it closes without a reply (the server's idle timeout).
    pub(crate) idle_timeout: Duration,
    /// The server's sessions: this one is counted there while open, and leaves when told.
    pub(crate) sessions: Sessions,
}

pub(crate) async fn chat(
    State(greeter): State<Greeter>,
    Extension(limits): Extension<SessionLimits>,
    version: Version,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let http2 = version >= Version::HTTP_2;
    match upgrade {
        // HTTP/2's extended CONNECT has no key: the stream is the handshake (RFC 8441).
        Ok(_)
            if !http2 && !headers.get("sec-websocket-key").is_some_and(is_valid_websocket_key) =>
        {
            ApiError::invalid_argument(
                "Sec-WebSocket-Key must be 16 bytes in base64 (RFC 6455, section 4.1)",
            )
            .into_response()
        }
        Ok(upgrade) => upgrade.on_upgrade(move |socket| converse(socket, greeter, limits)),
        // RFC 6455, section 4.4: a version the server does not speak is refused with the
        // versions it does.
        Err(rejection @ WebSocketUpgradeRejection::InvalidWebSocketVersionHeader(_)) => (
            [(SEC_WEBSOCKET_VERSION, "13")],
            ApiError::invalid_argument(format!(
                "this route speaks WebSocket version 13 only: {}",
                rejection.body_text()
            )),
        )
            .into_response(),
        Err(rejection) if http2 => ApiError::invalid_argument(format!(
            "over HTTP/2 a WebSocket opens with an extended CONNECT, `:protocol websocket` \
                 (RFC 8441): {}",
            rejection.body_text()
        ))
        .into_response(),
        Err(rejection) => ApiError::invalid_argument(format!(
            "this route speaks WebSocket only: {}",
            rejection.body_text()
        ))
        .into_response(),
    }
}

/// The chat route's other methods: CONNECT is the chat over HTTP/2 (RFC 8441); any other
/// method is refused as on every route.
pub(crate) async fn connect_or_not_allowed(
    method: Method,
    greeter: State<Greeter>,
    limits: Extension<SessionLimits>,
    version: Version,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    match method {
        Method::CONNECT => chat(greeter, limits, version, headers, upgrade).await,
        _ => super::error::method_not_allowed().await.into_response(),
    }
}

/// RFC 6455 asks the server to refuse a key that is not 16 bytes in base64, which is 22
/// base64 digits (the last one with its low 4 bits zero) and `==`.
fn is_valid_websocket_key(key: &HeaderValue) -> bool {
    let key = key.as_bytes();
    let is_digit = |b: &u8| b.is_ascii_alphanumeric() || *b == b'+' || *b == b'/';
    key.len() == 24
        && key[..22].iter().all(is_digit)
        && b"AQgw".contains(&key[21])
        && &key[22..] == b"=="
}

/// Why a conversation ended early: the error for the client and the close code that goes
/// with it.
pub(crate) struct Refusal {
    error: ApiError,
    close_code: u16,
    reason: &'static str,
}

async fn converse(mut socket: WebSocket, greeter: Greeter, limits: SessionLimits) {
    let session = limits.sessions.enter();
    let mut next = None;
    // Pings and Pongs keep the connection alive but are not messages: they do not restart the
    // wait for the next one.
    let mut message_due = Instant::now() + limits.message_timeout;
    let mut idle = IdleWatch::new(limits.idle_timeout);
    loop {
        let frame = match next.take() {
            Some(frame) => frame,
            None => tokio::select! {
                // A frame that has arrived is answered before the session leaves: a reply
                // already owed goes out before the Close.
                biased;
                frame = socket.recv() => frame,
                () = tokio::time::sleep_until(message_due) => {
                    let _ = refuse(&mut socket, silent(limits.message_timeout)).await;
                    return;
                }
                () = tokio::time::sleep_until(idle.due()) => {
                    if idle.ping_unanswered() {
                        let _ = close(&mut socket, close_code::AWAY, "no reply to a ping within the idle timeout").await;
                        return;
                    }
                    if socket.send(Message::Ping(Default::default())).await.is_err() {
                        return;
                    }
                    idle.pinged();
                    continue;
                }
                () = session.told_to_leave() => {
                    leave(&mut socket, limits.idle_timeout).await;
                    return;
                }
            },
        };
        let Some(Ok(frame)) = frame else { return };
        idle.heard();
        if matches!(frame, Message::Text(_) | Message::Binary(_)) {
            message_due = Instant::now() + limits.message_timeout;
        }
        let answer = match frame {
            Message::Text(text) => answer_json(&greeter, text.as_bytes()),
            Message::Binary(bytes) => answer_protobuf(&greeter, &bytes),
            // The WebSocket library has queued the echo of the client's Close (RFC 6455,
            // section 5.5.1); it goes out with this flush, so the client sees a clean close.
            Message::Close(_) => {
                let _ = socket.flush().await;
                return;
            }
            Message::Ping(_) | Message::Pong(_) => continue,
        };
        match answer {
            Ok(reply) => {
                if socket.feed(reply).await.is_err() {
                    return;
                }
                // gRPC's write policy (see `super::coalesce`): replies to requests that arrived
                // together go out together; when no request waits, the reply goes out now.
                next = socket.recv().now_or_never();
                if next.is_none() && socket.flush().await.is_err() {
                    return;
                }
            }
            Err(refusal) => {
                let _ = refuse(&mut socket, refusal).await;
                return;
            }
        }
    }
}

/// When a session last heard from its client, and whether it has pinged since: a session
/// that hears nothing, not even a Pong, for the idle timeout gets a Ping, and one that still
/// hears nothing for another idle timeout is closed.
struct IdleWatch {
    timeout: Duration,
    heard: Instant,
    pinged: bool,
}

impl IdleWatch {
    fn new(timeout: Duration) -> Self {
        Self { timeout, heard: Instant::now(), pinged: false }
    }

    fn heard(&mut self) {
        self.heard = Instant::now();
        self.pinged = false;
    }

    fn pinged(&mut self) {
        self.heard = Instant::now();
        self.pinged = true;
    }

    fn ping_unanswered(&self) -> bool {
        self.pinged
    }

    fn due(&self) -> Instant {
        self.heard + self.timeout
    }
}

/// The server drains: Close 1001 ("going away", RFC 6455 section 7.4.1), then the client's
/// Close is awaited (what it still sends is dropped, as the RFC asks once a Close is sent),
/// for at most `patience`; the drain deadline cuts the session after that in any case.
async fn leave(socket: &mut WebSocket, patience: Duration) {
    if close(socket, close_code::AWAY, "the server is shutting down").await.is_err() {
        return;
    }
    let _ = tokio::time::timeout(patience, async {
        while let Some(Ok(frame)) = socket.recv().await {
            if matches!(frame, Message::Close(_)) {
                return;
            }
        }
    })
    .await;
}

async fn close(socket: &mut WebSocket, code: u16, reason: &'static str) -> Result<(), axum::Error> {
    socket.send(Message::Close(Some(CloseFrame { code, reason: reason.into() }))).await
}

/// Ends a session early: the error in the API's shape, then a Close frame with its code.
async fn refuse(socket: &mut WebSocket, refusal: Refusal) -> Result<(), axum::Error> {
    let text = serde_json::to_string(&refusal.error.into_body()).unwrap_or_default();
    socket.feed(Message::Text(text.into())).await?;
    close(socket, refusal.close_code, refusal.reason).await
}

/// A session whose client sent nothing for the request timeout.
fn silent(timeout: Duration) -> Refusal {
    Refusal {
        error: ApiError::new(
            super::error::Code::DeadlineExceeded,
            format!(
                "the client sent no message for {} s (the server's request timeout)",
                timeout.as_secs_f64()
            ),
        ),
        close_code: close_code::POLICY,
        reason: "no message within the request timeout",
    }
}

pub(crate) fn answer_json(greeter: &Greeter, text: &[u8]) -> Result<Message, Refusal> {
    let request: HelloRequest = decode_json_object(text).map_err(|error| Refusal {
        error,
        close_code: close_code::INVALID,
        reason: "invalid message",
    })?;
    let message = greeter.say_hello(&request.name).map_err(domain_refusal)?;
    let reply = serde_json::to_string(&HelloReply { message }).unwrap_or_default();
    Ok(Message::Text(reply.into()))
}

pub(crate) fn answer_protobuf(greeter: &Greeter, bytes: &[u8]) -> Result<Message, Refusal> {
    let request = HelloRequest::decode(bytes).map_err(|error| Refusal {
        error: ApiError::invalid_argument(format!("invalid protobuf message: {error}")),
        close_code: close_code::INVALID,
        reason: "invalid message",
    })?;
    let message = greeter.say_hello(&request.name).map_err(domain_refusal)?;
    Ok(Message::Binary(HelloReply { message }.encode_to_vec().into()))
}

fn domain_refusal(error: contract::greeter::DomainError) -> Refusal {
    Refusal { error: error.into(), close_code: close_code::POLICY, reason: "invalid request" }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn websocket_keys_must_be_16_bytes_of_base64() {
        for (key, valid) in [
            ("dGhlIHNhbXBsZSBub25jZQ==", true),
            ("AAAAAAAAAAAAAAAAAAAAAA==", true),
            ("dGhlIHNhbXBsZSBub25jZR==", false),
            ("dGhlIHNhbXBsZSBub25jZQ", false),
            ("dGhlIHNhbXBsZSBub25j*Q==", false),
            ("", false),
        ] {
            assert_eq!(is_valid_websocket_key(&HeaderValue::from_static(key)), valid, "{key:?}");
        }
    }
}
