//! The media types the REST port reads and writes, named once for the content negotiation,
//! the error replies, the guard, the document and `compare`.

pub(crate) const JSON: &str = "application/json";
pub(crate) const PROTOBUF: &str = "application/x-protobuf";
pub(crate) const SSE: &str = "text/event-stream";
pub(crate) const NDJSON: &str = "application/x-ndjson";
