//! The gRPC port's wire code, below both adapters that serve on it (`grpc`, with gRPC-Web, and
//! `connect`): what a call of the port is read and written with, whichever protocol it speaks.
//! The method table ([`Methods`]: every method served, by its path, and its [`MethodShape`]);
//! length-prefixed messages (`frames`: gRPC's frames, which Connect's envelopes are too) and
//! their compression (`compression`: gzip and zstd, which `compare`'s client calls too); and the
//! JSON codec (`json_codec`), which lets gRPC, gRPC-Web and Connect calls carry proto3 JSON.
//! A plain gRPC call passes the method table and the JSON codec's service here, and never
//! enters `connect`.

pub(crate) use contract::grpc_messages::compression;
pub(crate) mod frames;
mod json_codec;

use std::{convert::Infallible, pin::Pin};

use axum::response::Response;
use hashbrown::HashMap;

pub(crate) use json_codec::{JsonCoded, JsonMessages};

/// A reply on its way, boxed, as the future of every call of the port that is translated is
/// (Connect, JSON, gRPC over HTTP/1.1): plain gRPC and gRPC-Web calls never pay for it.
pub(crate) type ReplyFuture = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

/// What the translation needs to know of a method, from its descriptor.
#[derive(Debug, Clone, Copy)]
pub(crate) struct MethodShape {
    pub(crate) client_streams: bool,
    pub(crate) server_streams: bool,
    /// `option idempotency_level = NO_SIDE_EFFECTS`: may be called with GET.
    pub(crate) no_side_effects: bool,
}

/// Every method the port serves, by its path (`/helloworld.Greeter/SayHello`). Looked up on
/// every call of the port (hashbrown's default hash: a few nanoseconds for a path); made once
/// per server and kept for the life of the process, so that a copy shares no reference count
/// every core would bump.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Methods(&'static HashMap<String, MethodShape>);

impl Methods {
    pub(crate) fn new(
        methods: impl Iterator<Item = (String, prost_types::MethodDescriptorProto)>,
    ) -> Self {
        use prost_types::method_options::IdempotencyLevel;
        let shapes = methods.map(|(path, method)| {
            let no_side_effects = method.options.as_ref().is_some_and(|options| {
                options.idempotency_level() == IdempotencyLevel::NoSideEffects
            });
            let shape = MethodShape {
                client_streams: method.client_streaming(),
                server_streams: method.server_streaming(),
                no_side_effects,
            };
            (path, shape)
        });
        Self(Box::leak(Box::new(shapes.collect())))
    }

    pub(crate) fn shape(&self, path: &str) -> Option<MethodShape> {
        self.0.get(path).copied()
    }
}
