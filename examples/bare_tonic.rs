//! The baseline for our gRPC port: the smallest tonic Greeter (no health, reflection, limits,
//! middleware), on the same generated code. `scripts/baseline.sh` measures our server against
//! it. Usage: cargo run --release --example bare_tonic -- 127.0.0.1:50061

use contract::proto::{
    HelloReply, HelloRequest,
    greeter_server::{Greeter, GreeterServer},
};
use tonic::{Request, Response, Status, transport::Server};

#[derive(Default)]
struct BareGreeter;

#[tonic::async_trait]
impl Greeter for BareGreeter {
    async fn say_hello(
        &self,
        request: Request<HelloRequest>,
    ) -> Result<Response<HelloReply>, Status> {
        Ok(Response::new(HelloReply { message: format!("Hello {}", request.into_inner().name) }))
    }

    async fn say_hello_again(
        &self,
        request: Request<HelloRequest>,
    ) -> Result<Response<HelloReply>, Status> {
        Ok(Response::new(HelloReply {
            message: format!("Hello again {}", request.into_inner().name),
        }))
    }

    type SayHelloStreamReplyStream = tokio_stream::Empty<Result<HelloReply, Status>>;

    async fn say_hello_stream_reply(
        &self,
        _: Request<contract::proto::HelloStreamRequest>,
    ) -> Result<Response<Self::SayHelloStreamReplyStream>, Status> {
        Err(Status::unimplemented("not in the baseline"))
    }

    type SayHelloBidiStreamStream = tokio_stream::Empty<Result<HelloReply, Status>>;

    async fn say_hello_bidi_stream(
        &self,
        _: Request<tonic::Streaming<HelloRequest>>,
    ) -> Result<Response<Self::SayHelloBidiStreamStream>, Status> {
        Err(Status::unimplemented("not in the baseline"))
    }

    async fn say_hello_batch(
        &self,
        _: Request<contract::proto::BatchHelloRequest>,
    ) -> Result<Response<contract::proto::BatchHelloReply>, Status> {
        Err(Status::unimplemented("not in the baseline"))
    }

    // The payload echoes send the request back unchecked: the floor under our checked ones.
    async fn echo_complex(
        &self,
        request: Request<contract::proto::ComplexRequest>,
    ) -> Result<Response<contract::proto::ComplexReply>, Status> {
        Ok(Response::new(contract::proto::ComplexReply { response: Some(request.into_inner()) }))
    }

    async fn echo_people(
        &self,
        request: Request<contract::proto::PeopleRequest>,
    ) -> Result<Response<contract::proto::PeopleReply>, Status> {
        Ok(Response::new(contract::proto::PeopleReply { people: request.into_inner().people }))
    }
}

fn main() -> anyhow::Result<()> {
    // Logging set up by our server's own code (tracing to stderr, `info` unless `RUST_LOG`
    // says otherwise): without a subscriber, tracing falls back to its `log` bridge on every
    // span, a cost no real server pays.
    server::telemetry::init(server::telemetry::LogFormat::Text);
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:50061".into());
    let listener = std::net::TcpListener::bind(addr)?;
    // The runtime `serve` would use (RPC_VS_REST_RUNTIME), so the ladder compares like with like.
    let runtime = runtime::RuntimeKind::from_env()?;
    runtime::serve_on_each(runtime, listener, |incoming| {
        Server::builder()
            .add_service(GreeterServer::new(BareGreeter))
            // With TCP_NODELAY, as our server sets it, so the comparison is like with like.
            .serve_with_incoming(incoming)
    })
}
