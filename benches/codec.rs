//! Encoding cost alone: prost (protobuf) against serde_json (proto3 JSON) for the same
//! messages, encode and decode: the batch replies per batch size, grpc_bench's complex message,
//! and 1 and 100 person records (int64, Timestamp, enum, bytes, map, nesting). Throughput is
//! in bytes of each encoding, so the report shows both speed and size.

use compare::payload;
use contract::proto::{BatchHelloReply, ComplexRequest, HelloReply, PeopleRequest};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use prost::Message;
use serde::{Serialize, de::DeserializeOwned};

fn reply(size: usize) -> BatchHelloReply {
    BatchHelloReply {
        replies: (0..size).map(|i| HelloReply { message: format!("Hello name-{i:05}") }).collect(),
    }
}

/// Encodes and decodes `message` both ways, under `name`.
fn both_encodings<T>(c: &mut Criterion, name: &str, message: &T)
where
    T: Message + Default + Serialize + DeserializeOwned,
{
    let protobuf = message.encode_to_vec();
    let json = serde_json::to_vec(message).unwrap();

    let mut encode = c.benchmark_group(format!("encode/{name}"));
    encode.throughput(Throughput::Bytes(protobuf.len() as u64));
    encode.bench_function(BenchmarkId::new("protobuf", protobuf.len()), |b| {
        b.iter(|| message.encode_to_vec())
    });
    encode.throughput(Throughput::Bytes(json.len() as u64));
    encode.bench_function(BenchmarkId::new("json", json.len()), |b| {
        b.iter(|| serde_json::to_vec(message).unwrap())
    });
    encode.finish();

    let mut decode = c.benchmark_group(format!("decode/{name}"));
    decode.throughput(Throughput::Bytes(protobuf.len() as u64));
    decode.bench_function(BenchmarkId::new("protobuf", protobuf.len()), |b| {
        b.iter(|| T::decode(protobuf.as_slice()).unwrap())
    });
    decode.throughput(Throughput::Bytes(json.len() as u64));
    decode.bench_function(BenchmarkId::new("json", json.len()), |b| {
        b.iter(|| serde_json::from_slice::<T>(&json).unwrap())
    });
    decode.finish();
}

fn codec(c: &mut Criterion) {
    for size in [1, 10, 100, 1000] {
        both_encodings(c, &format!("batch-{size}"), &reply(size));
    }
    both_encodings::<ComplexRequest>(c, "complex", &payload::complex());
    for count in [1, 100] {
        both_encodings::<PeopleRequest>(c, &format!("records-{count}"), &payload::people(count));
    }
}

criterion_group!(benches, codec);
criterion_main!(benches);
