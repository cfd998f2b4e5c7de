//! A unary RPC's REST side as data: where its request message is read from, the domain call
//! that turns it into the reply message, an example request, and what its operation says. One
//! generic handler serves every such RPC (read, call, reply in the negotiated encoding), and
//! one function writes its OpenAPI operation, with the reply's example made by the call itself.

use axum::{
    extract::State,
    routing::{MethodFilter, MethodRouter, on},
};
use prost::{Message, Name};
use serde::{Serialize, de::DeserializeOwned};
use utoipa::openapi::path::OperationBuilder;

use super::{
    encoding::{Body, Reply, ReplyEncoding},
    endpoint::Endpoint,
    error::ApiError,
    extract::ApiPath,
    openapi::{self, Request},
};
use contract::greeter::{DomainError, Greeter};

/// A unary Greeter RPC over REST, taking the protobuf message `Req` and answering `Reply`.
pub(crate) struct UnaryRpc<Req, Reply> {
    /// The operation's id: the RPC's name, or a name that says which form of it this is.
    pub(crate) id: &'static str,
    pub(crate) summary: &'static str,
    /// What the successful reply holds, as the document says it.
    pub(crate) replies: &'static str,
    pub(crate) reads: Reads,
    /// A request the document shows; its reply example is what [`UnaryRpc::call`] makes of it.
    pub(crate) example: fn() -> Req,
    /// The RPC itself: the request message through the domain into the reply message.
    pub(crate) call: fn(&Greeter, Req) -> Result<Reply, DomainError>,
}

/// Where a unary route reads its request message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reads {
    /// The body, as proto3 JSON or protobuf by `Content-Type`.
    Body,
    /// The path's `{name}`, as a HelloRequest (for curl and browsers).
    NameInPath,
}

impl<Req, Rep> Endpoint<Greeter> for UnaryRpc<Req, Rep>
where
    Req: DeserializeOwned + Message + Name + Serialize + Default + Clone + Send + 'static,
    Rep: Serialize + Message + Name + 'static,
{
    fn method_router(&'static self, method: MethodFilter) -> MethodRouter<Greeter> {
        match self.reads {
            Reads::Body => on(
                method,
                move |State(greeter): State<Greeter>,
                      ReplyEncoding(encoding): ReplyEncoding,
                      Body(request): Body<Req>| async move {
                    self.reply(&greeter, encoding, request)
                },
            ),
            Reads::NameInPath => on(
                method,
                move |State(greeter): State<Greeter>,
                      ReplyEncoding(encoding): ReplyEncoding,
                      ApiPath(request): ApiPath<Req>| async move {
                    self.reply(&greeter, encoding, request)
                },
            ),
        }
    }

    fn operation(&self) -> OperationBuilder {
        let example = (self.example)();
        let reply = (self.call)(&Greeter::new(), example.clone()).expect("the example is valid");
        let request = match self.reads {
            Reads::Body => Request::Body(Req::NAME, to_json(&example)),
            Reads::NameInPath => Request::NameInPath,
        };
        openapi::unary(self.id, self.summary, request, (self.replies, Rep::NAME, to_json(&reply)))
    }
}

impl<Req, Rep> UnaryRpc<Req, Rep> {
    fn reply(
        &self,
        greeter: &Greeter,
        encoding: super::encoding::Encoding,
        request: Req,
    ) -> Result<Reply<Rep>, ApiError> {
        Ok(encoding.reply((self.call)(greeter, request)?))
    }
}

fn to_json<T: Serialize>(message: &T) -> serde_json::Value {
    serde_json::to_value(message).expect("the examples serialize")
}
