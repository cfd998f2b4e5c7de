//! The REST cells' server streams: hyper over HTTP/1.1 (a pooled client per task) or h2c
//! (shared connections), NDJSON or SSE, in the media types the server's own content
//! negotiation names; and, with the same client, the Connect cells' server streams (enveloped
//! JSON or protobuf messages and an end-of-stream message, on the gRPC port). Their single
//! calls (unary, batch, payloads) go through the unary client (`unary.rs`), which
//! `CellClient::connect` gives every single-call workload.

use std::{net::SocketAddr, sync::Arc};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::{client::legacy::Client, rt::TokioExecutor};
use tower::{Service as _, ServiceExt as _};

use super::{
    check::{CallError, Expected, NAME, ServedBy},
    http2::Http2,
    turns::Turns,
    wire::{CountingConnector, WireCounters},
};
use contract::rest_api::{media_types, paths};
use contract::{
    facts::SERVED_BY,
    proto::{HelloReply, HelloStreamRequest},
};

/// Server streams over hyper, REST's or Connect's, HTTP/1.1 or h2c.
#[derive(Clone, Debug)]
pub struct RestClient {
    transport: RestTransport,
    base: String,
    /// The media type of bodies (JSON or protobuf: a Connect stream's messages) and of REST
    /// streams (NDJSON or SSE).
    body_media: &'static str,
    stream_media: &'static str,
    /// Streams by the Connect protocol instead (`SayHelloStreamReply` on the gRPC port).
    connect: bool,
}

#[derive(Clone, Debug)]
enum RestTransport {
    /// A pooled client of the task's own, which keeps its one connection.
    Http1 { client: Box<Client<CountingConnector, Full<Bytes>>>, connector: CountingConnector },
    /// Connections shared by every task, taken in turn.
    Http2(Turns<Http2<Full<Bytes>>>),
}

/// How a REST cell writes its calls.
pub(crate) struct RestStyle {
    pub(crate) http2: bool,
    /// The receive windows of its HTTP/2 connections.
    pub(crate) windows: contract::settings::Http2Windows,
    pub(crate) tls: Option<super::tls::ClientTls>,
    pub(crate) json: bool,
    pub(crate) sse: bool,
    /// A Connect cell: its streams are Connect's, sent to the gRPC port.
    pub(crate) connect: bool,
}

impl RestClient {
    /// HTTP/2 opens `connections` connections now; HTTP/1.1 connects as each task first calls.
    pub(crate) async fn connect(
        rest: SocketAddr,
        style: RestStyle,
        connections: usize,
        counters: Arc<WireCounters>,
    ) -> anyhow::Result<Self> {
        let transport = if style.http2 {
            let mut handles = Vec::with_capacity(connections);
            for _ in 0..connections {
                let tls = style.tls.as_ref();
                handles.push(Http2::connect(rest, style.windows, tls, counters.clone()).await?);
            }
            RestTransport::Http2(Turns::new(handles, 0))
        } else {
            let connector = CountingConnector { addr: rest, tls: style.tls.clone(), counters };
            RestTransport::Http1 { client: Box::new(http1_client(connector.clone())), connector }
        };
        Ok(Self {
            transport,
            base: format!("http://{rest}"),
            body_media: if style.json { media_types::JSON } else { media_types::PROTOBUF },
            stream_media: if style.sse { media_types::SSE } else { media_types::NDJSON },
            connect: style.connect,
        })
    }

    /// The client task number `task` of a run uses: its own handles on the shared HTTP/2
    /// connections, or, for HTTP/1.1, a pool of its own, so it keeps one connection and never
    /// waits on a pool lock the other tasks share (the load generator must not be the
    /// bottleneck).
    pub(crate) fn for_task(&self, task: usize) -> Self {
        let transport = match &self.transport {
            RestTransport::Http1 { connector, .. } => RestTransport::Http1 {
                client: Box::new(http1_client(connector.clone())),
                connector: connector.clone(),
            },
            RestTransport::Http2(connections) => RestTransport::Http2(connections.for_task(task)),
        };
        Self { transport, ..self.clone() }
    }

    /// How many connections are open at once at this concurrency.
    pub(crate) fn connections(&self, concurrency: usize) -> usize {
        match &self.transport {
            RestTransport::Http2(connections) => connections.len(),
            RestTransport::Http1 { .. } => concurrency,
        }
    }

    /// A server stream of `count` greetings, checked against `expected`: REST's (NDJSON or
    /// SSE), or Connect's on a Connect cell.
    pub(crate) async fn stream(
        &mut self,
        count: u32,
        expected: &Expected,
    ) -> Result<ServedBy, CallError> {
        if self.connect {
            let request = HelloStreamRequest { name: NAME.into(), count: Some(count) };
            let (served_by, body) = self.connect_stream(&request).await?;
            let messages = self.connect_stream_items(&body)?;
            expected.stream(messages.iter().map(|reply| reply.message.as_str()))?;
            Ok(served_by)
        } else {
            let path = paths::SAY_HELLO_STREAM.replace("{name}", NAME);
            let url = format!("{}{path}?count={count}", self.base);
            let (served_by, body) = self.get(&url).await?;
            let messages = self.stream_items(&body)?;
            expected.stream(messages.iter().map(|reply| reply.message.as_str()))?;
            Ok(served_by)
        }
    }

    /// A Connect server stream: the request in one envelope, JSON or protobuf as the cell's.
    async fn connect_stream(
        &mut self,
        message: &HelloStreamRequest,
    ) -> Result<(ServedBy, Bytes), CallError> {
        let (payload, media) = if self.body_media == media_types::JSON {
            let json =
                serde_json::to_vec(message).map_err(|error| CallError::transport("JSON", error))?;
            (json, "application/connect+json")
        } else {
            (prost::Message::encode_to_vec(message), "application/connect+proto")
        };
        let mut body = Vec::with_capacity(5 + payload.len());
        body.push(0);
        body.extend_from_slice(&u32::try_from(payload.len()).unwrap_or(u32::MAX).to_be_bytes());
        body.extend_from_slice(&payload);
        let uri = format!("{}/helloworld.Greeter/SayHelloStreamReply", self.base);
        let request = http::Request::post(uri)
            .header(http::header::CONTENT_TYPE, media)
            .header("connect-protocol-version", "1")
            .body(Full::new(Bytes::from(body)))
            .map_err(|error| CallError::transport("Connect request", error))?;
        self.send(request).await
    }

    /// The replies of a Connect stream, which must end with an end-of-stream message that
    /// holds no error.
    fn connect_stream_items(&self, mut body: &[u8]) -> Result<Vec<HelloReply>, CallError> {
        let mut replies = Vec::new();
        while body.len() >= 5 {
            let flags = body[0];
            let length = u32::from_be_bytes([body[1], body[2], body[3], body[4]]) as usize;
            let payload = body.get(5..5 + length).ok_or_else(|| {
                CallError::WrongReply("the stream ends inside an envelope".into())
            })?;
            body = &body[5 + length..];
            if flags & 0b10 != 0 {
                let end: serde_json::Value = serde_json::from_slice(payload).map_err(|error| {
                    CallError::WrongReply(format!("bad end-of-stream message: {error}"))
                })?;
                if let Some(error) = end.get("error") {
                    return Err(CallError::WrongReply(format!("the stream failed: {error}")));
                }
                return if body.is_empty() {
                    Ok(replies)
                } else {
                    Err(CallError::WrongReply("bytes after the end of the stream".into()))
                };
            }
            replies.push(self.decode(payload)?);
        }
        Err(CallError::WrongReply("the stream has no end-of-stream message".into()))
    }

    async fn get(&mut self, url: &str) -> Result<(ServedBy, Bytes), CallError> {
        let request = http::Request::get(url)
            .header(http::header::ACCEPT, self.stream_media)
            .body(Full::new(Bytes::new()))
            .map_err(|error| CallError::transport("REST request", error))?;
        self.send(request).await
    }

    /// Sends a request and returns who answered and the body of a 200 reply; anything else
    /// is an error.
    async fn send(
        &mut self,
        request: http::Request<Full<Bytes>>,
    ) -> Result<(ServedBy, Bytes), CallError> {
        let response = match &mut self.transport {
            RestTransport::Http1 { client, .. } => client
                .request(request)
                .await
                .map_err(|error| CallError::transport_with_causes("REST", error))?,
            RestTransport::Http2(connections) => {
                let connection = connections.next();
                connection
                    .ready()
                    .await
                    .map_err(|error| CallError::transport_with_causes("REST", error))?;
                connection
                    .call(request)
                    .await
                    .map_err(|error| CallError::transport_with_causes("REST", error))?
            }
        };
        let status = response.status();
        let served_by = response.headers().get(SERVED_BY).cloned();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|error| CallError::transport_with_causes("REST body", error))?
            .to_bytes();
        if status != http::StatusCode::OK {
            return Err(CallError::Rest { status, body: String::from_utf8_lossy(&body).into() });
        }
        Ok((served_by, body))
    }

    fn decode<T: prost::Message + Default + serde::de::DeserializeOwned>(
        &self,
        body: &[u8],
    ) -> Result<T, CallError> {
        if self.body_media == media_types::JSON {
            serde_json::from_slice(body)
                .map_err(|error| CallError::WrongReply(format!("bad JSON: {error}")))
        } else {
            T::decode(body).map_err(|error| CallError::WrongReply(format!("bad protobuf: {error}")))
        }
    }

    /// The replies of a stream: one JSON `HelloReply` per NDJSON line or SSE `data:` event.
    fn stream_items(&self, body: &[u8]) -> Result<Vec<HelloReply>, CallError> {
        let text = std::str::from_utf8(body)
            .map_err(|error| CallError::WrongReply(format!("not UTF-8: {error}")))?;
        let items: Vec<&str> = if self.stream_media == media_types::SSE {
            text.split("\n\n")
                .filter(|event| !event.is_empty())
                .filter_map(|event| event.strip_prefix("data: "))
                .collect()
        } else {
            text.lines().collect()
        };
        items
            .into_iter()
            .map(|item| {
                serde_json::from_str(item)
                    .map_err(|error| CallError::WrongReply(format!("bad stream item: {error}")))
            })
            .collect()
    }
}

fn http1_client(connector: CountingConnector) -> Client<CountingConnector, Full<Bytes>> {
    Client::builder(TokioExecutor::new()).pool_max_idle_per_host(usize::MAX).build(connector)
}
