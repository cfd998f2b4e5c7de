//! What each call asks for: one SayHello, or a batch of N names (the payload-size knob).

use std::{fmt, str::FromStr, sync::Arc};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Workload {
    Unary,
    /// A batch of this many distinct names.
    Batch(Arc<[String]>),
}

impl Workload {
    pub fn batch(size: usize) -> Self {
        Self::Batch((0..size).map(|i| format!("name-{i:05}")).collect())
    }
}

impl fmt::Display for Workload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Workload::Unary => f.write_str("unary"),
            Workload::Batch(names) => write!(f, "batch-{}", names.len()),
        }
    }
}

impl FromStr for Workload {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        if name == "unary" {
            return Ok(Self::Unary);
        }
        name.strip_prefix("batch-")
            .and_then(|n| n.parse().ok())
            .filter(|n| (1..=crate::greeter::MAX_BATCH_NAMES).contains(n))
            .map(Self::batch)
            .ok_or_else(|| {
                format!("unknown workload {name:?}; workloads: unary, batch-N (1..=10000)")
            })
    }
}
