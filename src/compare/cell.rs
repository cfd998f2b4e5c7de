//! The cells of the comparison — one protocol stack each — and a client per cell that makes
//! one call of a workload and checks the reply. Every cell sends the same messages.

use std::{fmt, net::SocketAddr, str::FromStr, sync::Arc};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::{client::legacy::Client, rt::TokioExecutor};
use tonic::transport::{Channel, Endpoint};

use super::{
    wire::{CountingConnector, WireCounters},
    workload::Workload,
};
use crate::proto::{
    BatchHelloReply, BatchHelloRequest, HelloReply, HelloRequest, greeter_client::GreeterClient,
};

/// One protocol stack: what is compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Cell {
    /// Protobuf over HTTP/2 with gRPC framing (tonic).
    Grpc,
    RestJsonH1,
    RestJsonH2,
    RestProtoH1,
    RestProtoH2,
}

impl Cell {
    pub const ALL: [Cell; 5] =
        [Cell::Grpc, Cell::RestJsonH1, Cell::RestJsonH2, Cell::RestProtoH1, Cell::RestProtoH2];

    fn http2(self) -> bool {
        matches!(self, Cell::Grpc | Cell::RestJsonH2 | Cell::RestProtoH2)
    }

    fn json(self) -> bool {
        matches!(self, Cell::RestJsonH1 | Cell::RestJsonH2)
    }

    /// How many connections the cell opens at a given concurrency: HTTP/2 multiplexes every
    /// call on one connection; HTTP/1.1 needs one connection per call in flight.
    pub(crate) fn connections(self, concurrency: usize) -> usize {
        if self.http2() { 1 } else { concurrency }
    }
}

impl fmt::Display for Cell {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Cell::Grpc => "grpc",
            Cell::RestJsonH1 => "rest-json-h1",
            Cell::RestJsonH2 => "rest-json-h2",
            Cell::RestProtoH1 => "rest-proto-h1",
            Cell::RestProtoH2 => "rest-proto-h2",
        })
    }
}

impl FromStr for Cell {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Cell::ALL
            .into_iter()
            .find(|cell| cell.to_string() == name)
            .ok_or_else(|| format!("unknown cell {name:?}; cells: grpc, rest-json-h1, rest-json-h2, rest-proto-h1, rest-proto-h2"))
    }
}

/// A client of one cell, shared by every task of a run (clones share the connections).
#[derive(Clone, Debug)]
pub enum CellClient {
    Grpc(GreeterClient<Channel>),
    Rest { client: Client<CountingConnector, Full<Bytes>>, base: String, json: bool },
}

impl CellClient {
    pub async fn connect(
        cell: Cell,
        grpc: SocketAddr,
        rest: SocketAddr,
        counters: Arc<WireCounters>,
    ) -> anyhow::Result<Self> {
        if cell == Cell::Grpc {
            let connector = CountingConnector { addr: grpc, counters };
            let channel = Endpoint::from_shared(format!("http://{grpc}"))?
                .connect_with_connector(connector)
                .await?;
            let client = GreeterClient::new(channel).max_decoding_message_size(usize::MAX);
            return Ok(Self::Grpc(client));
        }
        let connector = CountingConnector { addr: rest, counters };
        let client = Client::builder(TokioExecutor::new())
            .http2_only(cell.http2())
            .pool_max_idle_per_host(usize::MAX)
            .build(connector);
        Ok(Self::Rest { client, base: format!("http://{rest}"), json: cell.json() })
    }

    /// Makes one call and checks the reply; `Err` says what was wrong.
    pub async fn call(&self, workload: &Workload) -> Result<(), String> {
        match (self, workload) {
            (Self::Grpc(client), Workload::Unary) => {
                let reply = client.clone().say_hello(HelloRequest { name: "World".into() }).await;
                let reply = reply
                    .map_err(|status| format!("gRPC {}: {}", status.code(), status.message()))?;
                check_hello(&reply.into_inner())
            }
            (Self::Grpc(client), Workload::Batch(names)) => {
                let request = BatchHelloRequest { names: names.to_vec() };
                let reply = client.clone().say_hello_batch(request).await;
                let reply = reply
                    .map_err(|status| format!("gRPC {}: {}", status.code(), status.message()))?;
                check_batch(&reply.into_inner(), names)
            }
            (Self::Rest { client, base, json }, Workload::Unary) => {
                let request = HelloRequest { name: "World".into() };
                let body =
                    rest_call(client, &format!("{base}/v1/greeter/hello"), *json, &request).await?;
                let reply: HelloReply = decode(&body, *json)?;
                check_hello(&reply)
            }
            (Self::Rest { client, base, json }, Workload::Batch(names)) => {
                let request = BatchHelloRequest { names: names.to_vec() };
                let body =
                    rest_call(client, &format!("{base}/v1/greeter/batch"), *json, &request).await?;
                let reply: BatchHelloReply = decode(&body, *json)?;
                check_batch(&reply, names)
            }
        }
    }
}

async fn rest_call<T: prost::Message + serde::Serialize>(
    client: &Client<CountingConnector, Full<Bytes>>,
    url: &str,
    json: bool,
    message: &T,
) -> Result<Bytes, String> {
    let (media, body) = if json {
        ("application/json", serde_json::to_vec(message).map_err(|e| e.to_string())?)
    } else {
        ("application/x-protobuf", message.encode_to_vec())
    };
    let request = http::Request::post(url)
        .header(http::header::CONTENT_TYPE, media)
        .header(http::header::ACCEPT, media)
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| e.to_string())?;
    let response = client.request(request).await.map_err(|e| format!("REST: {e}"))?;
    let status = response.status();
    let body =
        response.into_body().collect().await.map_err(|e| format!("REST body: {e}"))?.to_bytes();
    if status != http::StatusCode::OK {
        return Err(format!("REST {status}: {}", String::from_utf8_lossy(&body)));
    }
    Ok(body)
}

fn decode<T: prost::Message + Default + serde::de::DeserializeOwned>(
    body: &[u8],
    json: bool,
) -> Result<T, String> {
    if json {
        serde_json::from_slice(body).map_err(|e| format!("bad JSON reply: {e}"))
    } else {
        T::decode(body).map_err(|e| format!("bad protobuf reply: {e}"))
    }
}

fn check_hello(reply: &HelloReply) -> Result<(), String> {
    if reply.message == "Hello World" {
        Ok(())
    } else {
        Err(format!("wrong reply {:?}", reply.message))
    }
}

fn check_batch(reply: &BatchHelloReply, names: &[String]) -> Result<(), String> {
    if reply.replies.len() != names.len() {
        return Err(format!("{} replies for {} names", reply.replies.len(), names.len()));
    }
    let all_right = reply
        .replies
        .iter()
        .zip(names)
        .all(|(r, n)| r.message.len() == n.len() + 6 && r.message.ends_with(n.as_str()));
    if all_right { Ok(()) } else { Err("a batch reply does not greet its name".into()) }
}
