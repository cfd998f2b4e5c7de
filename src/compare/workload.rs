//! What each call asks for: one SayHello, a batch of N names (the payload-size knob), or a
//! server stream of N greetings.

use std::{fmt, str::FromStr, sync::Arc};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Workload {
    Unary,
    /// A batch of this many distinct names.
    Batch(Arc<[String]>),
    /// A server stream of this many greetings (SayHelloStreamReply; SSE or NDJSON on REST).
    Stream(u32),
    /// A conversation of this many request-reply exchanges, each waiting for the last
    /// (SayHelloBidiStream; a WebSocket session on REST).
    Chat(u32),
}

impl Workload {
    pub fn batch(size: usize) -> Self {
        Self::Batch((0..size).map(|i| format!("name-{i:05}")).collect())
    }

    /// One request, one reply: what the lean client carries.
    pub fn is_unary_or_batch(&self) -> bool {
        matches!(self, Self::Unary | Self::Batch(_))
    }
}

impl fmt::Display for Workload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Workload::Unary => f.write_str("unary"),
            Workload::Batch(names) => write!(f, "batch-{}", names.len()),
            Workload::Stream(count) => write!(f, "stream-{count}"),
            Workload::Chat(count) => write!(f, "chat-{count}"),
        }
    }
}

impl FromStr for Workload {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        if name == "unary" {
            return Ok(Self::Unary);
        }
        let batch = name
            .strip_prefix("batch-")
            .and_then(|n| n.parse().ok())
            .filter(|n| (1..=crate::greeter::MAX_BATCH_NAMES).contains(n))
            .map(Self::batch);
        let stream = || {
            name.strip_prefix("stream-")
                .and_then(|n| n.parse().ok())
                .filter(|n| (1..=crate::greeter::MAX_STREAM_COUNT).contains(n))
                .map(Self::Stream)
        };
        let chat = || {
            name.strip_prefix("chat-")
                .and_then(|n| n.parse().ok())
                .filter(|n| *n >= 1)
                .map(Self::Chat)
        };
        batch.or_else(stream).or_else(chat).ok_or_else(|| {
            format!(
                "unknown workload {name:?}; workloads: unary, batch-N (1..=10000), \
                 stream-N (1..=1000), chat-N"
            )
        })
    }
}
