//! SayHelloBidiStream as a WebSocket at `GET /v1/greeter/chat`. A text frame carries a
//! `HelloRequest` in JSON and is answered by a `HelloReply` in JSON; a binary frame carries
//! protobuf and is answered in protobuf. As on gRPC, the first invalid request ends the
//! conversation: the client gets the error in the API's JSON shape, then a close frame. A
//! client's Close is echoed, as RFC 6455 asks. Replies are written with gRPC's policy: those
//! ready together go out together, and none waits for a later one. The server's request timeout
//! bounds the wait for each message, as it does for a gRPC bidi stream: a session silent for
//! longer gets a DEADLINE_EXCEEDED error and Close 1008.

use std::time::Duration;

use axum::{
    Extension,
    extract::{
        State,
        ws::{
            CloseFrame, Message, WebSocket, WebSocketUpgrade, close_code,
            rejection::WebSocketUpgradeRejection,
        },
    },
    http::{HeaderMap, HeaderValue, Version},
    response::{IntoResponse, Response},
};
use futures_util::{FutureExt as _, SinkExt as _};
use prost::Message as _;

use super::{encoding::decode_json_object, error::ApiError};
use crate::{
    greeter::Greeter,
    proto::{HelloReply, HelloRequest},
};

/// What bounds a chat session, given to the route by the router.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SessionLimits {
    /// The longest wait for the client's next message (the server's request timeout).
    pub(crate) message_timeout: Duration,
}

pub(crate) async fn chat(
    State(greeter): State<Greeter>,
    Extension(limits): Extension<SessionLimits>,
    version: Version,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    match upgrade {
        Ok(_) if !headers.get("sec-websocket-key").is_some_and(is_valid_websocket_key) => {
            ApiError::invalid_argument(
                "Sec-WebSocket-Key must be 16 bytes in base64 (RFC 6455, section 4.1)",
            )
            .into_response()
        }
        Ok(upgrade) => upgrade.on_upgrade(move |socket| converse(socket, greeter, limits)),
        Err(_) if version >= Version::HTTP_2 => ApiError::invalid_argument(
            "WebSocket is served over HTTP/1.1 only (an RFC 6455 Upgrade); this server does not \
             offer WebSocket over HTTP/2 (RFC 8441)",
        )
        .into_response(),
        Err(rejection) => ApiError::invalid_argument(format!(
            "this route speaks WebSocket only: {}",
            rejection.body_text()
        ))
        .into_response(),
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
struct Refusal {
    error: ApiError,
    close_code: u16,
    reason: &'static str,
}

async fn converse(mut socket: WebSocket, greeter: Greeter, limits: SessionLimits) {
    let mut next = None;
    // Pings and Pongs keep the connection alive but are not messages: they do not restart the
    // wait for the next one.
    let mut message_due = tokio::time::Instant::now() + limits.message_timeout;
    loop {
        let frame = match next.take() {
            Some(frame) => frame,
            None => match tokio::time::timeout_at(message_due, socket.recv()).await {
                Ok(frame) => frame,
                Err(_) => {
                    let _ = refuse(&mut socket, silent(limits.message_timeout)).await;
                    return;
                }
            },
        };
        let Some(Ok(frame)) = frame else { return };
        if matches!(frame, Message::Text(_) | Message::Binary(_)) {
            message_due = tokio::time::Instant::now() + limits.message_timeout;
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

/// Ends a session early: the error in the API's shape, then a Close frame with its code.
async fn refuse(socket: &mut WebSocket, refusal: Refusal) -> Result<(), axum::Error> {
    let text = serde_json::to_string(&refusal.error.into_body()).unwrap_or_default();
    socket.feed(Message::Text(text.into())).await?;
    let close = CloseFrame { code: refusal.close_code, reason: refusal.reason.into() };
    socket.send(Message::Close(Some(close))).await
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

fn answer_json(greeter: &Greeter, text: &[u8]) -> Result<Message, Refusal> {
    let request: HelloRequest = decode_json_object(text).map_err(|error| Refusal {
        error,
        close_code: close_code::INVALID,
        reason: "invalid message",
    })?;
    let message = greeter.say_hello(&request.name).map_err(domain_refusal)?;
    let reply = serde_json::to_string(&HelloReply { message }).unwrap_or_default();
    Ok(Message::Text(reply.into()))
}

fn answer_protobuf(greeter: &Greeter, bytes: &[u8]) -> Result<Message, Refusal> {
    let request = HelloRequest::decode(bytes).map_err(|error| Refusal {
        error: ApiError::invalid_argument(format!("invalid protobuf message: {error}")),
        close_code: close_code::INVALID,
        reason: "invalid message",
    })?;
    let message = greeter.say_hello(&request.name).map_err(domain_refusal)?;
    Ok(Message::Binary(HelloReply { message }.encode_to_vec().into()))
}

fn domain_refusal(error: crate::greeter::DomainError) -> Refusal {
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
