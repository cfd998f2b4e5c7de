//! Round trips through the real server (in this process, on loopback), one benchmark group per
//! workload so criterion's report puts the cells side by side: unary SayHello, batches of 10
//! and 1000 names, a stream of 100 greetings (gRPC vs NDJSON vs SSE), and 64 calls in flight
//! (`iter_custom`). Each cell's client is built once
//! and reused; every reply is checked.

use std::{sync::Arc, time::Instant};

use ::server::{
    config::ServeConfig,
    server::{self, Listeners},
};
use compare::{Cell, CellClient, ClientOptions, Expected, WireCounters, Workload};
use criterion::{Criterion, criterion_group, criterion_main};
use tokio::runtime::Runtime;

fn start_server(runtime: &Runtime) -> (std::net::SocketAddr, std::net::SocketAddr) {
    runtime.block_on(async {
        let config = ServeConfig::loopback();
        let listeners = Listeners::bind(&config).await.unwrap();
        let addrs = (listeners.grpc_addr().unwrap(), listeners.rest_addr().unwrap());
        tokio::spawn(async move { server::run(listeners, &config, std::future::pending()).await });
        addrs
    })
}

/// Every cell's client for `workload`, as `compare` makes it.
fn clients(
    runtime: &Runtime,
    workload: &Workload,
    grpc: std::net::SocketAddr,
    rest: std::net::SocketAddr,
) -> Vec<(Cell, CellClient)> {
    Cell::ALL
        .into_iter()
        .filter(|cell| cell.carries(workload))
        .map(|cell| {
            let counters = Arc::new(WireCounters::default());
            let grpc = [grpc];
            let options = ClientOptions::default();
            let client = CellClient::connect(cell, workload, (&grpc, rest), 1, options, counters);
            (cell, runtime.block_on(client).unwrap())
        })
        .collect()
}

fn round_trips(c: &mut Criterion) {
    let runtime = Runtime::new().unwrap();
    let (grpc, rest) = start_server(&runtime);
    for workload in
        [Workload::Unary, Workload::batch(10), Workload::batch(1000), Workload::Stream(100)]
    {
        let expected = Expected::of(&workload);
        let mut group = c.benchmark_group(format!("round-trip/{workload}"));
        for (cell, client) in clients(&runtime, &workload, grpc, rest) {
            // One task's client (its own connection on HTTP/1.1), kept across iterations.
            let client = tokio::sync::Mutex::new(client.for_task(0));
            group.bench_function(cell.to_string(), |b| {
                b.to_async(&runtime).iter(|| async {
                    client.lock().await.call(&workload, &expected).await.unwrap()
                })
            });
        }
        group.finish();
    }

    let concurrency = 64;
    let expected = &Arc::new(Expected::of(&Workload::Unary));
    let mut group = c.benchmark_group(format!("in-flight-{concurrency}/unary"));
    for (cell, client) in &clients(&runtime, &Workload::Unary, grpc, rest) {
        group.bench_function(cell.to_string(), |b| {
            b.to_async(&runtime).iter_custom(|iterations| async move {
                // `iterations` calls spread over `concurrency` tasks; the time per call is
                // the wall time divided back by criterion.
                let per_task = iterations.div_ceil(concurrency);
                let started = Instant::now();
                let tasks: Vec<_> = (0..concurrency)
                    .map(|task| {
                        let mut client = client.for_task(task as usize);
                        let expected = Arc::clone(expected);
                        tokio::spawn(async move {
                            for _ in 0..per_task {
                                client.call(&Workload::Unary, &expected).await.unwrap();
                            }
                        })
                    })
                    .collect();
                for task in tasks {
                    task.await.unwrap();
                }
                started.elapsed().mul_f64(iterations as f64 / (per_task * concurrency) as f64)
            })
        });
    }
    group.finish();
}

criterion_group!(benches, round_trips);
criterion_main!(benches);
