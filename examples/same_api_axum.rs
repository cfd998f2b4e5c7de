//! The same-API baseline for our REST port: the whole documented REST API (every route, JSON
//! and protobuf negotiation, validation, the API's errors, the docs) with the body limit, served
//! by `axum::serve` alone, as a user of axum would serve this API. What our server adds around
//! it (its front, request ids, `x-served-by`, metrics, admission and deadlines, drain, header
//! limits, the connection watch, CORS, auth, TLS) is left out, so that `scripts/instructions.sh`
//! can tell what the REST contract costs from what our server adds.
//! Usage: cargo run --release --example same_api_axum -- 127.0.0.1:8085 (port 0 works; the
//! bound address is printed on stdout).

use axum::extract::DefaultBodyLimit;
use contract::{greeter::Greeter, settings::DEFAULT_MAX_MESSAGE_BYTES};
use server::readiness::Readiness;

fn main() -> anyhow::Result<()> {
    // Logging set up by our server's own code (tracing to stderr, `info` unless `RUST_LOG`
    // says otherwise): without a subscriber, tracing falls back to its `log` bridge on every
    // span, a cost no real server pays.
    server::telemetry::init(server::telemetry::LogFormat::Text);
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:8085".into());
    let listener = std::net::TcpListener::bind(addr)?;
    println!("{}", listener.local_addr()?);
    // The runtime `serve` would use (RPC_VS_REST_RUNTIME), so the ladder compares like with like.
    let runtime = runtime::RuntimeKind::from_env()?;
    runtime::serve_on_each(runtime, listener, |incoming| async move {
        // Readiness reports through gRPC health in our server; here nothing reads that side.
        let readiness = Readiness::new(tonic_health::server::HealthReporter::new()).await;
        let app = server::rest::api(Greeter::new(), readiness)
            .layer(DefaultBodyLimit::max(DEFAULT_MAX_MESSAGE_BYTES));
        // With TCP_NODELAY, as our server sets it, so the comparison is like with like.
        axum::serve(incoming, app).await
    })
}
