//! The baseline for our REST port: the smallest axum JSON hello (no negotiation, limits,
//! middleware). `scripts/baseline.sh` measures our server against it.
//! Usage: cargo run --release --example bare_axum -- 127.0.0.1:8081

use std::future::IntoFuture;

use axum::{Json, Router, routing::post};
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
struct HelloRequest {
    name: String,
}

#[derive(Serialize)]
struct HelloReply {
    message: String,
}

async fn say_hello(Json(request): Json<HelloRequest>) -> Json<HelloReply> {
    Json(HelloReply { message: format!("Hello {}", request.name) })
}

fn main() -> anyhow::Result<()> {
    // Logging set up by our server's own code (tracing to stderr, `info` unless `RUST_LOG`
    // says otherwise): without a subscriber, tracing falls back to its `log` bridge on every
    // span, a cost no real server pays.
    server::telemetry::init(server::telemetry::LogFormat::Text);
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:8081".into());
    let listener = std::net::TcpListener::bind(addr)?;
    // The runtime `serve` would use (RPC_VS_REST_RUNTIME), so the ladder compares like with like.
    let runtime = runtime::RuntimeKind::from_env()?;
    runtime::serve_on_each(runtime, listener, |incoming| {
        let app = Router::new().route("/v1/greeter/hello", post(say_hello));
        // With TCP_NODELAY, as our server sets it, so the comparison is like with like.
        axum::serve(incoming, app).into_future()
    })
}
