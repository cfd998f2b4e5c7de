//! Every documented REST route, declared once: its method, its path, and what serves it (the
//! handler and the OpenAPI operation that describes it). The router (`rest::router`), the
//! document (`super::openapi_document`) and `compare` read this table, so none of them can have
//! a route the others lack. A unary RPC's route is one entry: a [`UnaryRpc`] says everything
//! its handler and its operation need.

use axum::routing::{MethodFilter, MethodRouter, on};
use utoipa::openapi::{HttpMethod, PathItem};

use super::{
    chat,
    endpoint::{Endpoint, Handler},
    health, openapi, record_schemas, stream,
    unary::{Reads, UnaryRpc},
};
use contract::rest_api::paths;

use crate::readiness::Readiness;
use contract::{
    greeter::Greeter,
    proto::{self, BatchHelloReply, ComplexReply, HelloReply, HelloRequest, PeopleReply},
};

/// One route; `S` is the state its handler reads. The entries below are data of one shape on
/// purpose: each says the facts of its route, and nothing else.
pub(crate) struct Route<S: 'static> {
    pub(crate) method: Method,
    pub(crate) path: &'static str,
    serves: &'static dyn Endpoint<S>,
}

/// The methods the API's routes take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Method {
    Get,
    Post,
}

impl<S> Route<S> {
    /// What the router serves at [`Route::path`].
    pub(crate) fn method_router(&self) -> MethodRouter<S> {
        let filter = match self.method {
            Method::Get => MethodFilter::GET,
            Method::Post => MethodFilter::POST,
        };
        self.serves.method_router(filter)
    }

    /// What the document lists at [`Route::path`].
    pub(crate) fn path_item(&self) -> PathItem {
        let method = match self.method {
            Method::Get => HttpMethod::Get,
            Method::Post => HttpMethod::Post,
        };
        PathItem::new(method, self.serves.operation())
    }
}

fn hello_world() -> HelloRequest {
    HelloRequest { name: "World".into() }
}

/// `POST /v1/greeter/hello`: SayHello.
pub(crate) const SAY_HELLO: Route<Greeter> = Route {
    method: Method::Post,
    path: paths::SAY_HELLO,
    serves: &UnaryRpc {
        id: "SayHello",
        summary: "Greets a name (SayHello)",
        replies: "The greeting",
        reads: Reads::Body,
        example: hello_world,
        call: |greeter, request| Ok(HelloReply { message: greeter.say_hello(&request.name)? }),
    },
};

/// `GET /v1/greeter/hello/{name}`: SayHello, for curl and browsers.
pub(crate) const SAY_HELLO_BY_PATH: Route<Greeter> = Route {
    method: Method::Get,
    path: paths::SAY_HELLO_BY_PATH,
    serves: &UnaryRpc {
        id: "SayHelloByPath",
        summary: "Greets the name in the path (SayHello, for curl)",
        replies: "The greeting",
        reads: Reads::NameInPath,
        example: hello_world,
        call: |greeter, request| Ok(HelloReply { message: greeter.say_hello(&request.name)? }),
    },
};

/// `POST /v1/greeter/hello-again`: SayHelloAgain.
pub(crate) const SAY_HELLO_AGAIN: Route<Greeter> = Route {
    method: Method::Post,
    path: paths::SAY_HELLO_AGAIN,
    serves: &UnaryRpc {
        id: "SayHelloAgain",
        summary: "Greets a name again (SayHelloAgain)",
        replies: "The greeting",
        reads: Reads::Body,
        example: hello_world,
        call: |greeter, request| {
            Ok(HelloReply { message: greeter.say_hello_again(&request.name)? })
        },
    },
};

/// `GET /v1/greeter/hello/{name}/stream`: SayHelloStreamReply, as SSE or NDJSON.
pub(crate) const SAY_HELLO_STREAM: Route<Greeter> = Route {
    method: Method::Get,
    path: paths::SAY_HELLO_STREAM,
    serves: &Handler {
        handler: |method| on(method, stream::say_hello_stream),
        operation: openapi::say_hello_stream,
    },
};

/// `GET /v1/greeter/chat`: SayHelloBidiStream, over a WebSocket. Over HTTP/2 a WebSocket opens
/// with an extended CONNECT (RFC 8441) instead, a method an OpenAPI 3.1 document cannot list:
/// the route takes it in its fallback, so that `Allow` names only the documented methods.
pub(crate) const CHAT: Route<Greeter> = Route {
    method: Method::Get,
    path: paths::CHAT,
    serves: &Handler {
        handler: |method| on(method, chat::chat).fallback(chat::connect_or_not_allowed),
        operation: openapi::chat,
    },
};

/// `POST /v1/greeter/batch`: SayHelloBatch.
pub(crate) const SAY_HELLO_BATCH: Route<Greeter> = Route {
    method: Method::Post,
    path: paths::SAY_HELLO_BATCH,
    serves: &UnaryRpc {
        id: "SayHelloBatch",
        summary: "Greets a batch of names (SayHelloBatch)",
        replies: "One greeting per name, in order",
        reads: Reads::Body,
        example: || proto::BatchHelloRequest { names: vec!["Ada".into(), "Grace".into()] },
        call: |greeter, request| {
            let messages = greeter.say_hello_batch(&request.names)?;
            let replies = messages.into_iter().map(|message| HelloReply { message }).collect();
            Ok(BatchHelloReply { replies })
        },
    },
};

/// `POST /v1/greeter/echo/complex`: EchoComplex, grpc_bench's complex message sent back.
pub(crate) const ECHO_COMPLEX: Route<Greeter> = Route {
    method: Method::Post,
    path: paths::ECHO_COMPLEX,
    serves: &UnaryRpc {
        id: "EchoComplex",
        summary: "Sends a complex message back (EchoComplex)",
        replies: "The request, as the server read it",
        reads: Reads::Body,
        example: record_schemas::complex_request,
        call: |greeter, request| {
            let complex = greeter.echo_complex(proto::complex_from_wire(request)?)?;
            Ok(ComplexReply { response: Some(proto::complex_to_wire(complex)) })
        },
    },
};

/// `POST /v1/greeter/echo/people`: EchoPeople, a list of records sent back.
pub(crate) const ECHO_PEOPLE: Route<Greeter> = Route {
    method: Method::Post,
    path: paths::ECHO_PEOPLE,
    serves: &UnaryRpc {
        id: "EchoPeople",
        summary: "Sends a list of people back (EchoPeople)",
        replies: "The people, as the server read them",
        reads: Reads::Body,
        example: record_schemas::people_request,
        call: |greeter, request| {
            let people = greeter.echo_people(proto::people_from_wire(request.people)?)?;
            Ok(PeopleReply { people: proto::people_to_wire(people) })
        },
    },
};

/// The Greeter's routes: behind the bearer token (when the server has one), load shedding and
/// the request timeout.
pub(crate) const GREETER: &[Route<Greeter>] = &[
    SAY_HELLO,
    SAY_HELLO_BY_PATH,
    SAY_HELLO_AGAIN,
    SAY_HELLO_STREAM,
    CHAT,
    SAY_HELLO_BATCH,
    ECHO_COMPLEX,
    ECHO_PEOPLE,
];

/// Liveness and readiness: always open and unbounded, so probes get through an overloaded
/// server.
pub(crate) const HEALTH: [Route<Readiness>; 2] = [
    Route {
        method: Method::Get,
        path: paths::HEALTHZ,
        serves: &Handler {
            handler: |method| on(method, health::healthz),
            operation: openapi::healthz,
        },
    },
    Route {
        method: Method::Get,
        path: paths::READYZ,
        serves: &Handler {
            handler: |method| on(method, health::readyz),
            operation: openapi::readyz,
        },
    },
];
