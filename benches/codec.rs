//! Encoding cost alone: prost (protobuf) against serde_json (proto3 JSON) for the same batch
//! messages, encode and decode, per batch size. Throughput is in bytes of each encoding, so
//! the report shows both speed and size.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use prost::Message as _;
use rpc_vs_rest::proto::{BatchHelloReply, HelloReply};

fn reply(size: usize) -> BatchHelloReply {
    BatchHelloReply {
        replies: (0..size).map(|i| HelloReply { message: format!("Hello name-{i:05}") }).collect(),
    }
}

fn codec(c: &mut Criterion) {
    for size in [1, 10, 100, 1000] {
        let message = reply(size);
        let protobuf = message.encode_to_vec();
        let json = serde_json::to_vec(&message).unwrap();

        let mut encode = c.benchmark_group(format!("encode/batch-{size}"));
        encode.throughput(Throughput::Bytes(protobuf.len() as u64));
        encode.bench_function(BenchmarkId::new("protobuf", protobuf.len()), |b| {
            b.iter(|| message.encode_to_vec())
        });
        encode.throughput(Throughput::Bytes(json.len() as u64));
        encode.bench_function(BenchmarkId::new("json", json.len()), |b| {
            b.iter(|| serde_json::to_vec(&message).unwrap())
        });
        encode.finish();

        let mut decode = c.benchmark_group(format!("decode/batch-{size}"));
        decode.throughput(Throughput::Bytes(protobuf.len() as u64));
        decode.bench_function(BenchmarkId::new("protobuf", protobuf.len()), |b| {
            b.iter(|| BatchHelloReply::decode(protobuf.as_slice()).unwrap())
        });
        decode.throughput(Throughput::Bytes(json.len() as u64));
        decode.bench_function(BenchmarkId::new("json", json.len()), |b| {
            b.iter(|| serde_json::from_slice::<BatchHelloReply>(&json).unwrap())
        });
        decode.finish();
    }
}

criterion_group!(benches, codec);
criterion_main!(benches);
