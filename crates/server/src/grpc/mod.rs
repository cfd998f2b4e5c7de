//! The gRPC adapter: the Greeter service, `grpc.health.v1.Health`, server reflection (v1 and
//! v1alpha) and gRPC-Web, behind the guard (token, load shedding, deadline), as one service
//! that `server` serves on the gRPC port.

mod client_pace;
pub(crate) mod content_types;
mod greeter_service;
mod guard;
pub mod health;
mod metrics;
mod status;

use tonic::{codec::CompressionEncoding, service::Routes};
use tonic_health::pb::health_server::{Health, HealthServer};

use crate::{
    auth::BearerToken,
    config::ServeConfig,
    metrics::Metrics,
    serving::{Draining, Gate, GateAnswers, PortService},
};
use contract::{greeter::Greeter, proto};

pub use greeter_service::GreeterService;

/// What a call gets once the server drains: UNAVAILABLE, so clients retry elsewhere.
fn draining_refusal(headers: &http::HeaderMap) -> axum::response::Response {
    guard::refusal_in_protocol(headers, tonic::Status::unavailable(crate::serving::DRAINING))
}

/// What a call whose headers (metadata) are over the limit gets: RESOURCE_EXHAUSTED.
fn headers_too_large(headers: &http::HeaderMap, limit: usize) -> axum::response::Response {
    let status = tonic::Status::resource_exhausted(format!(
        "the call's metadata is larger than this server accepts ({limit} bytes)"
    ));
    guard::refusal_in_protocol(headers, status)
}

/// What a call's body fails with past the server's body budget (`serving::BodyBudget`):
/// UNAVAILABLE, as a call shed for load is told, which tonic passes on as the call's status.
pub fn body_bytes_exhausted() -> Box<dyn std::error::Error + Send + Sync> {
    Box::new(tonic::Status::unavailable(crate::serving::BodyBytesExhausted.to_string()))
}

/// The descriptors of the services the gRPC port serves besides reflection (which describes
/// them), and reflection's own (v1 and v1alpha, which tonic's reflection describes itself).
const DESCRIBED_SETS: [&[u8]; 2] =
    [proto::FILE_DESCRIPTOR_SET, tonic_health::pb::FILE_DESCRIPTOR_SET];
const REFLECTION_SETS: [&[u8]; 2] = [
    tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET,
    tonic_reflection::pb::v1alpha::FILE_DESCRIPTOR_SET,
];

/// Every method the gRPC port serves, as its request path (`/package.Service/Method`): what the
/// metrics count by name. Read from the services' own descriptors, so a new RPC is counted
/// without being listed anywhere else.
pub fn served_methods() -> Vec<String> {
    served_method_descriptors().map(|(path, _)| path).collect()
}

/// Every method the gRPC port serves, as its request path and its descriptor.
fn served_method_descriptors() -> impl Iterator<Item = (String, prost_types::MethodDescriptorProto)>
{
    use prost::Message as _;
    let mut methods = Vec::new();
    for set in DESCRIBED_SETS.into_iter().chain(REFLECTION_SETS) {
        let set = prost_types::FileDescriptorSet::decode(set)
            .expect("the descriptors compiled into the binary decode");
        for file in set.file {
            for service in &file.service {
                for method in &service.method {
                    let path = format!("/{}.{}/{}", file.package(), service.name(), method.name());
                    methods.push((path, method.clone()));
                }
            }
        }
    }
    methods.into_iter()
}

/// While draining, gRPC health still answers (NOT_SERVING for the Greeter), as `/readyz` does.
fn serves_while_draining(path: &str) -> bool {
    path.starts_with("/grpc.health.v1.Health/")
}

/// The Greeter as a tonic service: gzip and zstd both ways (a reply is compressed only when the
/// client's `grpc-accept-encoding` asks for it), messages up to `max_message_bytes` after
/// decompression. What
/// our gRPC port serves behind its guard, and what the same-API baseline
/// (`examples/same_api_tonic.rs`) serves with tonic's own server alone.
pub fn greeter_server(
    greeter: Greeter,
    max_message_bytes: usize,
) -> proto::greeter_server::GreeterServer<GreeterService> {
    proto::greeter_server::GreeterServer::new(GreeterService::new(greeter))
        .accept_compressed(CompressionEncoding::Gzip)
        .accept_compressed(CompressionEncoding::Zstd)
        .send_compressed(CompressionEncoding::Gzip)
        .send_compressed(CompressionEncoding::Zstd)
        .max_decoding_message_size(max_message_bytes)
        .max_encoding_message_size(max_message_bytes)
}

/// Server reflection, v1 and v1alpha, describing every service of the gRPC port.
pub fn reflection() -> anyhow::Result<(
    tonic_reflection::server::v1::ServerReflectionServer<
        impl tonic_reflection::server::v1::ServerReflection,
    >,
    tonic_reflection::server::v1alpha::ServerReflectionServer<
        impl tonic_reflection::server::v1alpha::ServerReflection,
    >,
)> {
    let builder = || {
        DESCRIBED_SETS.into_iter().fold(tonic_reflection::server::Builder::configure(), |b, set| {
            b.register_encoded_file_descriptor_set(set)
        })
    };
    Ok((builder().build_v1()?, builder().build_v1alpha()?))
}

/// Every gRPC service of the gRPC port, with gRPC-Web translated in front of them.
pub fn router(
    greeter: Greeter,
    health: HealthServer<impl Health>,
    config: &ServeConfig,
    token: Option<BearerToken>,
    metrics: Option<Metrics>,
    draining: Draining,
) -> anyhow::Result<impl PortService> {
    let greeter = greeter_server(greeter, config.grpc.max_message_bytes);
    let (reflection_v1, reflection_v1alpha) = reflection()?;
    let routes = Routes::new(greeter)
        .add_service(health)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .prepare();
    let router = routes.into_axum_router();
    let methods = crate::grpc_wire::Methods::new(served_method_descriptors());
    let max_message_bytes = config.grpc.max_message_bytes;
    let answers = GateAnswers { headers_too_large, draining_refusal, serves_while_draining };
    let gate = Gate::new(draining, &config.connections, answers);
    let limits = &config.connections;
    Ok(guard::guard(router, limits, token, metrics, methods, max_message_bytes, gate))
}

#[cfg(test)]
mod tests {
    #[test]
    fn served_methods_are_read_from_every_served_service() {
        let methods = super::served_methods();
        for method in [
            "/helloworld.Greeter/SayHello",
            "/helloworld.Greeter/SayHelloStreamReply",
            "/grpc.health.v1.Health/Check",
            "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
            "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
        ] {
            assert!(methods.iter().any(|served| served == method), "{method} in {methods:?}");
        }
    }
}
