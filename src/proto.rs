//! The messages and service stubs generated from `proto/helloworld.proto`, shared by both
//! adapters: gRPC sends them as protobuf, REST as protobuf or as proto3 JSON (serde derives
//! are added at generation time, see `build.rs`).

#![allow(
    clippy::all,
    clippy::pedantic,
    unreachable_pub,
    missing_debug_implementations,
    missing_docs
)]

tonic::include_proto!("helloworld");

/// The encoded `FileDescriptorSet` of `helloworld.proto`, served by gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/helloworld_descriptor.bin"));
