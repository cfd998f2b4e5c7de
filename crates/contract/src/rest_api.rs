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

/// An HTTP method of a [`HttpRule`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleMethod {
    Get,
    Post,
}

/// A REST route mapped onto the Greeter RPC that serves it, as google.api.http's `HttpRule`
/// says it: what a REST front door in front of a gRPC server (grpc-gateway, Envoy's gRPC-JSON
/// transcoder) needs to serve this API's routes. Declared once, here: grpc-gateway's API
/// configuration (`baselines/go/rest_gateway/greeter_http.yaml`) is rendered from it
/// ([`grpc_gateway_configuration`]), and compare builds the transcoder's descriptor from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpRule {
    /// The RPC's name in `helloworld.Greeter`.
    pub rpc: &'static str,
    pub method: RuleMethod,
    pub path: &'static str,
    /// `Some("*")`: the request message is the body; `None`: it is read from the path.
    pub body: Option<&'static str>,
}

/// Every unary route of the API, the first rule of an RPC its main binding. The streams and
/// the chat are left out: grpc-gateway writes a server stream's items as `{"result": …}`
/// lines, not NDJSON of replies, and neither front door has a WebSocket for the chat.
pub const HTTP_RULES: [HttpRule; 6] = [
    HttpRule { rpc: "SayHello", method: RuleMethod::Post, path: paths::SAY_HELLO, body: Some("*") },
    HttpRule {
        rpc: "SayHello",
        method: RuleMethod::Get,
        path: paths::SAY_HELLO_BY_PATH,
        body: None,
    },
    HttpRule {
        rpc: "SayHelloAgain",
        method: RuleMethod::Post,
        path: paths::SAY_HELLO_AGAIN,
        body: Some("*"),
    },
    HttpRule {
        rpc: "SayHelloBatch",
        method: RuleMethod::Post,
        path: paths::SAY_HELLO_BATCH,
        body: Some("*"),
    },
    HttpRule {
        rpc: "EchoComplex",
        method: RuleMethod::Post,
        path: paths::ECHO_COMPLEX,
        body: Some("*"),
    },
    HttpRule {
        rpc: "EchoPeople",
        method: RuleMethod::Post,
        path: paths::ECHO_PEOPLE,
        body: Some("*"),
    },
];

/// [`HTTP_RULES`] as grpc-gateway's gRPC API Configuration (YAML), the file
/// `protoc-gen-grpc-gateway` reads through its `grpc_api_configuration` option: the first rule
/// of an RPC is its binding, the others its `additional_bindings`.
pub fn grpc_gateway_configuration() -> String {
    let mut yaml = String::from(
        "# grpc-gateway's HTTP rules for the Greeter (a gRPC API Configuration, as the\n\
         # `grpc_api_configuration` option of protoc-gen-grpc-gateway reads it), kept out of\n\
         # proto/helloworld.proto so that the proto stays gRPC's own. Rendered from the rules in\n\
         # crates/contract/src/rest_api.rs (HTTP_RULES), which Envoy's gRPC-JSON transcoder reads\n\
         # too: tests/gateway.rs fails when this file and they differ. Each rule is one of our\n\
         # documented REST routes, with the same method and path, mapped onto the RPC that\n\
         # serves it. The streams are left out: grpc-gateway writes a server stream's items as\n\
         # {\"result\": …} lines, not our NDJSON of replies, and has no WebSocket for the chat, so\n\
         # their routes answer 404 here and `compare` skips them.\n\
         type: google.api.Service\n\
         config_version: 3\n\
         \n\
         http:\n  rules:\n",
    );
    let binding = |rule: &HttpRule| {
        let method = match rule.method {
            RuleMethod::Get => "get",
            RuleMethod::Post => "post",
        };
        format!("{method}: {}", rule.path)
    };
    for (at, rule) in HTTP_RULES.iter().enumerate() {
        if HTTP_RULES[..at].iter().any(|earlier| earlier.rpc == rule.rpc) {
            continue;
        }
        yaml.push_str(&format!("    - selector: helloworld.Greeter.{}\n", rule.rpc));
        yaml.push_str(&format!("      {}\n", binding(rule)));
        if let Some(body) = rule.body {
            yaml.push_str(&format!("      body: \"{body}\"\n"));
        }
        let more: Vec<&HttpRule> =
            HTTP_RULES[at + 1..].iter().filter(|later| later.rpc == rule.rpc).collect();
        if !more.is_empty() {
            yaml.push_str("      additional_bindings:\n");
            for extra in more {
                yaml.push_str(&format!("        - {}\n", binding(extra)));
                if let Some(body) = extra.body {
                    yaml.push_str(&format!("          body: \"{body}\"\n"));
                }
            }
        }
    }
    yaml
}
