//! What a server and a client of the Greeter API both need, and nothing of how either runs:
//!
//! - [`greeter`]: the domain — names, greetings, streams, batches, records,
//!   [`greeter::DomainError`]. No protocol code.
//! - [`proto`]: the messages and stubs generated from `proto/helloworld.proto`, their proto3
//!   JSON, and their translation to the domain's records.
//! - [`grpc_messages`]: gRPC's length-prefixed messages (Connect's envelopes too) and their
//!   compression, written once for the server that reads them and the clients that send them.
//! - [`rest_api`]: the REST API's paths and media types, as data.
//! - [`facts`]: what the server states and a client reads: the `x-served-by` header, the
//!   bound addresses.
//! - [`settings`]: the settings both ends of a connection name (HTTP/2 windows, the largest
//!   message, the per-call profile); [`durations`]: the durations flags take.

pub mod durations;
pub mod facts;
pub mod greeter;
pub mod grpc_messages;
pub mod proto;
pub mod rest_api;
pub mod settings;
