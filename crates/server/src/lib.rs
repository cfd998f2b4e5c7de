//! The Greeter served two ways, as thin adapters over the contract's domain
//! (`rpc-vs-rest-contract`):
//!
//! - [`grpc`]: the gRPC adapter (tonic): Greeter, health, reflection, gRPC-Web; the port's
//!   content-type table, and the hand-off of Connect calls to [`connect`].
//! - [`connect`]: the Connect protocol on the gRPC port, translated to gRPC in front of its
//!   services. Connect only.
//! - [`grpc_wire`]: the gRPC port's wire code, below both `grpc` and `connect`: the method
//!   table, bodies rewritten message by message, and the JSON codec of gRPC, gRPC-Web and
//!   Connect (the messages' framing and compression are the contract's).
//! - [`rest`]: the REST adapter (axum): `/v1/` routes in JSON or protobuf, SSE, NDJSON,
//!   WebSocket, health and readiness.
//! - [`serving`]: what serving a request takes on either port, below both adapters: a port's
//!   service, admission (load shedding, deadlines), the body budget, finishing a reply, sessions.
//! - [`server`]: above the adapters: binds both ports, serves them behind one front each,
//!   shuts them down together.
//! - [`metrics`]: Prometheus metrics of both ports, served at `/metrics`.
//! - [`readiness`]: the switch `/readyz` and gRPC health share.
//! - [`auth`]: the optional bearer token both ports check.
//! - [`config`], [`telemetry`]: `serve`'s settings, and logging.
//! - `fuzzing` (hidden): the entry points the fuzz targets and the corpus replay share.

pub mod auth;
pub mod config;
pub mod connect;
/// The entry points the fuzz targets (`fuzz/`) and the corpus replay (`tests/fuzz_corpus.rs`)
/// share: one per parser, bytes in. Not an API.
#[doc(hidden)]
pub mod fuzzing;
pub mod grpc;
pub mod grpc_wire;
pub mod metrics;
pub mod readiness;
pub mod rest;
pub mod server;
pub mod serving;
pub mod telemetry;
