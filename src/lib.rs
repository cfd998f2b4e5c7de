//! rpc-vs-rest: one Greeter domain served as gRPC and as REST, and measured side by side.
//!
//! - [`greeter`]: the domain — names, greetings, streams, batches, [`greeter::DomainError`].
//!   No protocol code.
//! - [`proto`]: the messages and stubs generated from `proto/helloworld.proto`.
//! - [`grpc`]: the gRPC adapter (tonic): Greeter, health, reflection, gRPC-Web; the port's
//!   content-type table, and the hand-off of Connect calls to [`connect`].
//! - [`connect`]: the Connect protocol on the gRPC port, translated to gRPC in front of its
//!   services. Connect only.
//! - [`grpc_wire`]: the gRPC port's wire code, below both `grpc` and `connect`: the method
//!   table, length-prefixed messages and their compression (whose core `compare`'s client
//!   calls too), and the JSON codec of gRPC, gRPC-Web and Connect.
//! - [`rest`]: the REST adapter (axum): `/v1/` routes in JSON or protobuf, SSE, NDJSON,
//!   WebSocket, health and readiness.
//! - [`serving`]: what serving a request takes on either port, below both adapters: a port's
//!   service, admission (load shedding, deadlines), the body budget, finishing a reply, sessions.
//! - [`server`]: above the adapters: binds both ports, serves them behind one front each,
//!   shuts them down together.
//! - [`compare`]: `rpc-vs-rest compare`, the side-by-side load test of every protocol stack.
//! - [`metrics`]: Prometheus metrics of both ports, served at `/metrics`.
//! - [`runtime`], [`allocator`]: how the process schedules its async work (`--runtime`), and
//!   which allocator it uses (a cargo feature).
//! - [`readiness`]: the switch `/readyz` and gRPC health share.
//! - [`auth`]: the optional bearer token both ports check.
//! - [`facts`]: what the server states and `compare` reads: the `x-served-by` header, the
//!   bound addresses.
//! - [`cli`], [`config`], [`durations`], [`telemetry`]: the command line, settings, the
//!   durations flags take, and logging.
//! - `fuzzing` (hidden): the entry points the fuzz targets and the corpus replay share.

pub mod allocator;
pub mod auth;
pub mod cli;
pub mod compare;
pub mod config;
pub mod connect;
pub mod durations;
pub mod facts;
/// The entry points the fuzz targets (`fuzz/`) and the corpus replay (`tests/fuzz_corpus.rs`)
/// share: one per parser, bytes in. Not an API.
#[doc(hidden)]
pub mod fuzzing;
pub mod greeter;
pub mod grpc;
pub mod grpc_wire;
pub mod metrics;
pub mod proto;
pub mod readiness;
pub mod rest;
pub mod runtime;
pub mod server;
pub mod serving;
pub mod telemetry;
