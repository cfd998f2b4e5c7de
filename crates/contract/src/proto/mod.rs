//! The messages and service stubs generated from `proto/helloworld.proto`, shared by both
//! adapters: gRPC sends them as protobuf, REST as protobuf or as proto3 JSON (serde derives
//! on the string-only messages, pbjson's generated code on the rest: see `build.rs`).

#![allow(
    clippy::all,
    clippy::pedantic,
    unreachable_pub,
    missing_debug_implementations,
    missing_docs
)]

tonic::include_proto!("helloworld");
include!(concat!(env!("OUT_DIR"), "/helloworld.serde.rs"));

/// The encoded `FileDescriptorSet` of `helloworld.proto`, served by gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/helloworld_descriptor.bin"));

pub mod json;
mod records;
mod timestamp;
mod unique_keys;

pub use records::{complex_from_wire, complex_to_wire, people_from_wire, people_to_wire};
pub use timestamp::Timestamp;
pub use unique_keys::UniqueKeys;
