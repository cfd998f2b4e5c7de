//! The REST API's addresses and media types as data: what a server of this API routes and
//! negotiates and what a client of it (`compare`, the tests) sends. The server's route table
//! (what serves each path, and its OpenAPI operation) is the REST adapter's; these are only
//! the names both ends must agree on.

/// Each route's path, in the router's syntax (`{name}` is a path parameter).
pub mod paths {
    /// SayHello.
    pub const SAY_HELLO: &str = "/v1/greeter/hello";
    /// SayHello, the name in the path, for curl and browsers.
    pub const SAY_HELLO_BY_PATH: &str = "/v1/greeter/hello/{name}";
    /// SayHelloAgain.
    pub const SAY_HELLO_AGAIN: &str = "/v1/greeter/hello-again";
    /// SayHelloStream, as SSE or NDJSON.
    pub const SAY_HELLO_STREAM: &str = "/v1/greeter/hello/{name}/stream";
    /// Chat, over WebSocket.
    pub const CHAT: &str = "/v1/greeter/chat";
    /// SayHelloBatch.
    pub const SAY_HELLO_BATCH: &str = "/v1/greeter/batch";
    /// EchoComplex.
    pub const ECHO_COMPLEX: &str = "/v1/greeter/echo/complex";
    /// EchoPeople.
    pub const ECHO_PEOPLE: &str = "/v1/greeter/echo/people";
    /// Liveness.
    pub const HEALTHZ: &str = "/healthz";
    /// Readiness.
    pub const READYZ: &str = "/readyz";
}

/// The media types the REST port reads and writes.
pub mod media_types {
    pub const JSON: &str = "application/json";
    pub const PROTOBUF: &str = "application/x-protobuf";
    pub const SSE: &str = "text/event-stream";
    pub const NDJSON: &str = "application/x-ndjson";
}
