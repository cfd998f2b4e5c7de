//! Asking the gRPC port's server reflection which services it serves, in v1 and in v1alpha
//! (which older clients still ask): the same question, put by each version's own client.

/// Defines `listed_services` for the reflection version `$version` of `tonic_reflection::pb`;
/// the versions' generated types differ only by their module, so one body serves both.
macro_rules! listed_services_in {
    ($version:ident) => {
        /// The names of the services the server at `channel` lists.
        pub async fn listed_services(channel: tonic::transport::Channel) -> Vec<String> {
            use tokio_stream::StreamExt as _;
            use tonic_reflection::pb::$version::{
                ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
                server_reflection_request::MessageRequest,
                server_reflection_response::MessageResponse,
            };
            let mut client = ServerReflectionClient::new(channel);
            let request = ServerReflectionRequest {
                host: String::new(),
                message_request: Some(MessageRequest::ListServices(String::new())),
            };
            let mut responses = client
                .server_reflection_info(tokio_stream::once(request))
                .await
                .unwrap()
                .into_inner();
            let Some(MessageResponse::ListServicesResponse(list)) =
                responses.next().await.unwrap().unwrap().message_response
            else {
                panic!("expected a list of services");
            };
            list.service.into_iter().map(|service| service.name).collect()
        }
    };
}

/// Reflection v1 (`grpc.reflection.v1.ServerReflection`).
pub mod v1 {
    listed_services_in!(v1);
}

/// Reflection v1alpha (`grpc.reflection.v1alpha.ServerReflection`).
pub mod v1alpha {
    listed_services_in!(v1alpha);
}
