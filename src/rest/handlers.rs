//! The unary Greeter RPCs as REST routes: decode, call the domain, encode. The handlers share
//! that shape on purpose, as thin adapters: one per RPC, so each reads as its RPC does.

use axum::extract::State;
use serde::Deserialize;

use super::{
    encoding::{Body, Reply, ReplyEncoding},
    error::ApiError,
    extract::ApiPath,
};
use crate::{
    greeter::Greeter,
    proto::{
        self, BatchHelloReply, BatchHelloRequest, ComplexReply, ComplexRequest, HelloReply,
        HelloRequest, PeopleReply, PeopleRequest,
    },
};

#[derive(Debug, Deserialize)]
pub(crate) struct NamePath {
    pub(crate) name: String,
}

/// `POST /v1/greeter/hello` — SayHello.
pub(crate) async fn say_hello(
    State(greeter): State<Greeter>,
    ReplyEncoding(encoding): ReplyEncoding,
    Body(request): Body<HelloRequest>,
) -> Result<Reply<HelloReply>, ApiError> {
    let message = greeter.say_hello(&request.name)?;
    Ok(encoding.reply(HelloReply { message }))
}

/// `GET /v1/greeter/hello/{name}` — SayHello, for curl and browsers.
pub(crate) async fn say_hello_by_path(
    State(greeter): State<Greeter>,
    ReplyEncoding(encoding): ReplyEncoding,
    ApiPath(path): ApiPath<NamePath>,
) -> Result<Reply<HelloReply>, ApiError> {
    let message = greeter.say_hello(&path.name)?;
    Ok(encoding.reply(HelloReply { message }))
}

/// `POST /v1/greeter/hello-again` — SayHelloAgain.
pub(crate) async fn say_hello_again(
    State(greeter): State<Greeter>,
    ReplyEncoding(encoding): ReplyEncoding,
    Body(request): Body<HelloRequest>,
) -> Result<Reply<HelloReply>, ApiError> {
    let message = greeter.say_hello_again(&request.name)?;
    Ok(encoding.reply(HelloReply { message }))
}

/// `POST /v1/greeter/batch` — SayHelloBatch.
pub(crate) async fn say_hello_batch(
    State(greeter): State<Greeter>,
    ReplyEncoding(encoding): ReplyEncoding,
    Body(request): Body<BatchHelloRequest>,
) -> Result<Reply<BatchHelloReply>, ApiError> {
    let messages = greeter.say_hello_batch(&request.names)?;
    let replies = messages.into_iter().map(|message| HelloReply { message }).collect();
    Ok(encoding.reply(BatchHelloReply { replies }))
}

/// `POST /v1/greeter/echo/complex` — EchoComplex.
pub(crate) async fn echo_complex(
    State(greeter): State<Greeter>,
    ReplyEncoding(encoding): ReplyEncoding,
    Body(request): Body<ComplexRequest>,
) -> Result<Reply<ComplexReply>, ApiError> {
    let complex = greeter.echo_complex(proto::complex_from_wire(request)?)?;
    Ok(encoding.reply(ComplexReply { response: Some(proto::complex_to_wire(complex)) }))
}

/// `POST /v1/greeter/echo/people` — EchoPeople.
pub(crate) async fn echo_people(
    State(greeter): State<Greeter>,
    ReplyEncoding(encoding): ReplyEncoding,
    Body(request): Body<PeopleRequest>,
) -> Result<Reply<PeopleReply>, ApiError> {
    let people = greeter.echo_people(proto::people_from_wire(request.people)?)?;
    Ok(encoding.reply(PeopleReply { people: proto::people_to_wire(people) }))
}
