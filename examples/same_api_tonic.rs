//! The same-API baseline for our gRPC port: the Greeter service (through the domain, with
//! gzip and the message limit), `grpc.health.v1.Health` and server reflection, served by
//! tonic's own server alone, as a user of tonic would serve this API. What our server adds
//! around it (its front, request ids, `x-served-by`, metrics, admission and deadlines, drain,
//! header limits, the connection watch, gRPC-Web, auth, TLS) is left out, so that
//! `scripts/instructions.sh` can tell what gRPC itself costs from what our server adds.
//! Usage: cargo run --release --example same_api_tonic -- 127.0.0.1:50065 (port 0 works; the
//! bound address is printed on stdout).

use contract::{greeter::Greeter, settings::DEFAULT_MAX_MESSAGE_BYTES};
use tonic::transport::Server;

fn main() -> anyhow::Result<()> {
    // Logging set up by our server's own code (tracing to stderr, `info` unless `RUST_LOG`
    // says otherwise): without a subscriber, tracing falls back to its `log` bridge on every
    // span, a cost no real server pays.
    server::telemetry::init(server::telemetry::LogFormat::Text);
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:50065".into());
    let listener = std::net::TcpListener::bind(addr)?;
    println!("{}", listener.local_addr()?);
    // The runtime `serve` would use (RPC_VS_REST_RUNTIME), so the ladder compares like with like.
    let runtime = runtime::RuntimeKind::from_env()?;
    runtime::serve_on_each(runtime, listener, serve)
}

async fn serve(incoming: runtime::Incoming) -> anyhow::Result<()> {
    // Health as our server answers it, reporting the Greeter as serving.
    let reporter = tonic_health::server::HealthReporter::new();
    let health = server::grpc::health::Health::new(
        tonic_health::server::HealthService::from_health_reporter(reporter.clone()),
        // Never drains: tonic's own server has no drain of ours to announce.
        Default::default(),
    );
    let _readiness = server::readiness::Readiness::new(reporter).await;
    let (reflection_v1, reflection_v1alpha) = server::grpc::reflection()?;
    Server::builder()
        .add_service(server::grpc::greeter_server(Greeter::new(), DEFAULT_MAX_MESSAGE_BYTES))
        .add_service(health)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        // With TCP_NODELAY, as our server sets it, so the comparison is like with like.
        .serve_with_incoming(incoming)
        .await?;
    Ok(())
}
