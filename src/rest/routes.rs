//! Every documented REST route, declared once: its method, its path, the handler that serves
//! it and the OpenAPI operation that describes it. The router (`rest::router`), the document
//! (`super::openapi_document`) and `compare` read this table, so none of them can have a route the
//! others lack; adding an RPC's route is one entry here (and its handler and operation).

use axum::routing::{MethodFilter, MethodRouter, on};
use utoipa::openapi::{HttpMethod, PathItem, path::OperationBuilder};

use super::{chat, handlers, health, openapi, stream};
use crate::{greeter::Greeter, readiness::Readiness};

/// One route; `S` is the state its handler reads. The entries below are data of one shape on
/// purpose: each says the four facts of its route, and nothing else.
pub(crate) struct Route<S> {
    pub(crate) method: Method,
    pub(crate) path: &'static str,
    /// The handler, on the route's method (given as a filter, so that the method is written
    /// once, above).
    handler: fn(MethodFilter) -> MethodRouter<S>,
    operation: fn() -> OperationBuilder,
}

/// The methods the API's routes take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Method {
    Get,
    Post,
}

impl<S: Clone + Send + Sync + 'static> Route<S> {
    /// What the router serves at [`Route::path`].
    pub(crate) fn method_router(&self) -> MethodRouter<S> {
        let filter = match self.method {
            Method::Get => MethodFilter::GET,
            Method::Post => MethodFilter::POST,
        };
        (self.handler)(filter)
    }
}

impl<S> Route<S> {
    /// What the document lists at [`Route::path`].
    pub(crate) fn path_item(&self) -> PathItem {
        let method = match self.method {
            Method::Get => HttpMethod::Get,
            Method::Post => HttpMethod::Post,
        };
        PathItem::new(method, (self.operation)())
    }
}

/// `POST /v1/greeter/hello`: SayHello.
pub(crate) const SAY_HELLO: Route<Greeter> = Route {
    method: Method::Post,
    path: "/v1/greeter/hello",
    handler: |method| on(method, handlers::say_hello),
    operation: || {
        let reply = openapi::hello_reply(Greeter::say_hello);
        openapi::unary("SayHello", "Greets a name (SayHello)", openapi::hello_request(), reply)
    },
};

/// `GET /v1/greeter/hello/{name}`: SayHello, for curl and browsers.
pub(crate) const SAY_HELLO_BY_PATH: Route<Greeter> = Route {
    method: Method::Get,
    path: "/v1/greeter/hello/{name}",
    handler: |method| on(method, handlers::say_hello_by_path),
    operation: || {
        let summary = "Greets the name in the path (SayHello, for curl)";
        let reply = openapi::hello_reply(Greeter::say_hello);
        openapi::unary("SayHelloByPath", summary, openapi::Request::NameInPath, reply)
    },
};

/// `POST /v1/greeter/hello-again`: SayHelloAgain.
pub(crate) const SAY_HELLO_AGAIN: Route<Greeter> = Route {
    method: Method::Post,
    path: "/v1/greeter/hello-again",
    handler: |method| on(method, handlers::say_hello_again),
    operation: || {
        let summary = "Greets a name again (SayHelloAgain)";
        let reply = openapi::hello_reply(Greeter::say_hello_again);
        openapi::unary("SayHelloAgain", summary, openapi::hello_request(), reply)
    },
};

/// `GET /v1/greeter/hello/{name}/stream`: SayHelloStreamReply, as SSE or NDJSON.
pub(crate) const SAY_HELLO_STREAM: Route<Greeter> = Route {
    method: Method::Get,
    path: "/v1/greeter/hello/{name}/stream",
    handler: |method| on(method, stream::say_hello_stream),
    operation: openapi::say_hello_stream,
};

/// `GET /v1/greeter/chat`: SayHelloBidiStream, over a WebSocket. Over HTTP/2 a WebSocket opens
/// with an extended CONNECT (RFC 8441) instead, a method an OpenAPI 3.1 document cannot list:
/// the route takes it in its fallback, so that `Allow` names only the documented methods.
pub(crate) const CHAT: Route<Greeter> = Route {
    method: Method::Get,
    path: "/v1/greeter/chat",
    handler: |method| on(method, chat::chat).fallback(chat::connect_or_not_allowed),
    operation: openapi::chat,
};

/// `POST /v1/greeter/batch`: SayHelloBatch.
pub(crate) const SAY_HELLO_BATCH: Route<Greeter> = Route {
    method: Method::Post,
    path: "/v1/greeter/batch",
    handler: |method| on(method, handlers::say_hello_batch),
    operation: || {
        let (request, reply) = openapi::batch_request_and_reply();
        openapi::unary("SayHelloBatch", "Greets a batch of names (SayHelloBatch)", request, reply)
    },
};

/// `POST /v1/greeter/echo/complex`: EchoComplex, grpc_bench's complex message sent back.
pub(crate) const ECHO_COMPLEX: Route<Greeter> = Route {
    method: Method::Post,
    path: "/v1/greeter/echo/complex",
    handler: |method| on(method, handlers::echo_complex),
    operation: || {
        let (request, reply) = openapi::complex_request_and_reply();
        openapi::unary("EchoComplex", "Sends a complex message back (EchoComplex)", request, reply)
    },
};

/// `POST /v1/greeter/echo/people`: EchoPeople, a list of records sent back.
pub(crate) const ECHO_PEOPLE: Route<Greeter> = Route {
    method: Method::Post,
    path: "/v1/greeter/echo/people",
    handler: |method| on(method, handlers::echo_people),
    operation: || {
        let (request, reply) = openapi::people_request_and_reply();
        openapi::unary("EchoPeople", "Sends a list of people back (EchoPeople)", request, reply)
    },
};

/// The Greeter's routes: behind the bearer token (when the server has one), load shedding and
/// the request timeout.
pub(crate) const GREETER: [Route<Greeter>; 8] = [
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
        path: "/healthz",
        handler: |method| on(method, health::healthz),
        operation: openapi::healthz,
    },
    Route {
        method: Method::Get,
        path: "/readyz",
        handler: |method| on(method, health::readyz),
        operation: openapi::readyz,
    },
];
