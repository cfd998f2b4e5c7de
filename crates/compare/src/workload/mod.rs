//! What each call asks for: one SayHello, a batch of N names (the payload-size knob), a
//! server stream of N greetings, a conversation, or a realistic payload sent back (grpc_bench's
//! complex message, or N person records).

pub mod payload;

use std::{fmt, str::FromStr, sync::Arc};

use contract::proto::{ComplexRequest, PeopleRequest};

#[derive(Debug, Clone, PartialEq)]
pub enum Workload {
    Unary,
    /// A batch of this many distinct names.
    Batch(Arc<[String]>),
    /// A server stream of this many greetings (SayHelloStreamReply; SSE or NDJSON on REST).
    Stream(u32),
    /// A conversation of this many request-reply exchanges, each waiting for the last
    /// (SayHelloBidiStream; a WebSocket session on REST).
    Chat(u32),
    /// grpc_bench's complex message, sent back (EchoComplex).
    Complex(Arc<ComplexRequest>),
    /// This many person records, sent back (EchoPeople).
    Records(Arc<PeopleRequest>),
}

impl Workload {
    pub fn batch(size: usize) -> Self {
        Self::Batch((0..size).map(|i| format!("name-{i:05}")).collect())
    }

    pub fn complex() -> Self {
        Self::Complex(Arc::new(payload::complex()))
    }

    pub fn records(count: usize) -> Self {
        Self::Records(Arc::new(payload::people(count)))
    }

    /// How this workload's calls go: the one place that sorts the variants by the client that
    /// carries them, so that a new variant fails to compile until it is sorted.
    pub fn shape(&self) -> Shape {
        match self {
            Self::Unary | Self::Batch(_) | Self::Complex(_) | Self::Records(_) => Shape::SingleCall,
            Self::Stream(_) => Shape::Stream,
            Self::Chat(_) => Shape::Chat,
        }
    }

    /// One request, one reply: what the lean client carries.
    pub fn is_single_call(&self) -> bool {
        self.shape() == Shape::SingleCall
    }
}

/// How a workload's calls go, which decides the client that carries them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// One request, one reply (unary, batch, the payload echoes): the unary client.
    SingleCall,
    /// A server stream: the gRPC and REST stream clients.
    Stream,
    /// A conversation: the gRPC and WebSocket chat clients.
    Chat,
}

impl fmt::Display for Workload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Workload::Unary => f.write_str("unary"),
            Workload::Batch(names) => write!(f, "batch-{}", names.len()),
            Workload::Stream(count) => write!(f, "stream-{count}"),
            Workload::Chat(count) => write!(f, "chat-{count}"),
            Workload::Complex(_) => f.write_str("complex"),
            Workload::Records(request) => write!(f, "records-{}", request.people.len()),
        }
    }
}

impl FromStr for Workload {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        match name {
            "unary" => return Ok(Self::Unary),
            "complex" => return Ok(Self::complex()),
            _ => {}
        }
        let batch = name
            .strip_prefix("batch-")
            .and_then(|n| n.parse().ok())
            .filter(|n| (1..=contract::greeter::MAX_BATCH_NAMES).contains(n))
            .map(Self::batch);
        let stream = || {
            name.strip_prefix("stream-")
                .and_then(|n| n.parse().ok())
                .filter(|n| (1..=contract::greeter::MAX_STREAM_COUNT).contains(n))
                .map(Self::Stream)
        };
        let chat = || {
            name.strip_prefix("chat-")
                .and_then(|n| n.parse().ok())
                .filter(|n| *n >= 1)
                .map(Self::Chat)
        };
        let records = || {
            name.strip_prefix("records-")
                .and_then(|n| n.parse().ok())
                .filter(|n| (1..=contract::greeter::MAX_RECORDS).contains(n))
                .map(Self::records)
        };
        batch.or_else(stream).or_else(chat).or_else(records).ok_or_else(|| {
            format!(
                "unknown workload {name:?}; workloads: unary, batch-N (1..=10000), \
                 stream-N (1..=1000), chat-N, complex, records-N (1..=1000)"
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `FromStr` is the one place the compiler cannot check: every workload's name reads back
    /// as the workload it names.
    #[test]
    fn every_workload_reads_back_from_its_name() {
        let workloads = [
            Workload::Unary,
            Workload::batch(10),
            Workload::Stream(100),
            Workload::Chat(3),
            Workload::complex(),
            Workload::records(5),
        ];
        for workload in workloads {
            let name = workload.to_string();
            assert_eq!(name.parse::<Workload>(), Ok(workload), "{name}");
        }
    }
}
