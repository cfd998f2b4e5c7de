//! The OpenAPI 3.1 document of the REST API, built from code with utoipa's builders. Message
//! schemas are written here rather than derived because they carry the domain's rules
//! (name length, stream count, batch size), read from `greeter::limits` so they cannot drift;
//! schemathesis checks the server against this document (see docs/api.md).

use serde_json::{Value, json};
use utoipa::{
    PartialSchema, ToSchema,
    openapi::{
        ComponentsBuilder, ContentBuilder, InfoBuilder, LicenseBuilder, OpenApi, OpenApiBuilder,
        PathItem, PathsBuilder, Ref, RefOr, Required, ResponseBuilder, ResponsesBuilder, Schema,
        SecurityRequirement, ServerBuilder,
        path::{OperationBuilder, ParameterBuilder, ParameterIn},
        request_body::RequestBodyBuilder,
        schema::{AdditionalProperties, ArrayBuilder, ObjectBuilder, Type},
        security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
        tag::TagBuilder,
    },
};

use super::{
    error::{ApiError, ErrorBody, Refusal, headers_too_large, not_acceptable},
    health::HealthStatus,
    media_types::{JSON, NDJSON, PROTOBUF, SSE},
    record_schemas,
};
use crate::config::ConnectionLimits;
use contract::greeter::{
    DEFAULT_STREAM_COUNT, DomainError, MAX_BATCH_NAMES, MAX_NAME_CHARS, MAX_STREAM_COUNT,
};

/// `Name::parse`'s rules other than length, as one pattern: no control character (Unicode
/// category Cc) anywhere, and at least one character that is neither a control character nor
/// white space (Unicode White_Space, what `str::trim` removes). A unit test checks it against
/// `Name::parse` for every Unicode scalar value.
pub(crate) const NAME_PATTERN: &str = concat!(
    r"^[^\u0000-\u001F\u007F-\u009F]*",
    r"[^\u0000-\u0020\u007F-\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]",
    r"[^\u0000-\u001F\u007F-\u009F]*$",
);

/// The document of the REST API with these operations, by path (the route table's: see
/// [`super::document`]).
pub(crate) fn document(operations: impl Iterator<Item = (&'static str, PathItem)>) -> OpenApi {
    let paths = operations.fold(PathsBuilder::new(), |paths, (path, item)| paths.path(path, item));
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("rpc-vs-rest Greeter")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(
                    "The Greeter of `proto/helloworld.proto` as REST. Bodies are the proto3 JSON \
                     of the same messages (`application/json`, the default) or the same messages \
                     as protobuf bytes (`application/x-protobuf`, by `proto/helloworld.proto`), \
                     chosen by `Content-Type` and `Accept`; a schema describes the message in \
                     either encoding. Errors always have one JSON shape, `Error`, whose `status` is the \
                     gRPC code the same call gets over gRPC.",
                ))
                .license(Some(
                    LicenseBuilder::new()
                        .name("MIT OR Apache-2.0")
                        .identifier(Some("MIT OR Apache-2.0"))
                        .build(),
                ))
                .build(),
        )
        .servers(Some([ServerBuilder::new()
            .url("/")
            .description(Some("The server that serves this document (its REST port)"))
            .build()]))
        .paths(paths.build())
        .components(Some(components()))
        .tags(Some([
            TagBuilder::new()
                .name("Greeter")
                .description(Some("One route per helloworld.Greeter RPC"))
                .build(),
            TagBuilder::new().name("Health").description(Some("Liveness and readiness")).build(),
        ]))
        .build()
}

fn components() -> utoipa::openapi::Components {
    let name = ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1))
        .max_length(Some(MAX_NAME_CHARS))
        .pattern(Some(NAME_PATTERN))
        .description(Some(format!(
            "A name: at most {MAX_NAME_CHARS} characters, no control characters, not blank. \
             Surrounding white space is trimmed before greeting."
        )))
        .examples([json!("World")]);
    let hello_request = ObjectBuilder::new()
        .property("name", Ref::from_schema_name("Name"))
        .required("name")
        .additional_properties(Some(AdditionalProperties::FreeForm(false)))
        .description(Some("helloworld.HelloRequest"))
        .examples([json!({"name": "World"})]);
    let hello_reply = ObjectBuilder::new()
        .property("message", ObjectBuilder::new().schema_type(Type::String))
        .required("message")
        .additional_properties(Some(AdditionalProperties::FreeForm(false)))
        .description(Some("helloworld.HelloReply"))
        .examples([json!({"message": "Hello World"})]);
    let batch_request = ObjectBuilder::new()
        .property(
            "names",
            ArrayBuilder::new()
                .items(Ref::from_schema_name("Name"))
                .min_items(Some(1))
                .max_items(Some(MAX_BATCH_NAMES)),
        )
        .required("names")
        .additional_properties(Some(AdditionalProperties::FreeForm(false)))
        .description(Some(format!(
            "helloworld.BatchHelloRequest: 1 to {MAX_BATCH_NAMES} names, greeted in order"
        )))
        .examples([json!({"names": ["Ada", "Grace"]})]);
    let batch_reply = ObjectBuilder::new()
        .property("replies", ArrayBuilder::new().items(Ref::from_schema_name("HelloReply")))
        .required("replies")
        .additional_properties(Some(AdditionalProperties::FreeForm(false)))
        .description(Some("helloworld.BatchHelloReply: one reply per name, in order"))
        .examples([json!({"replies": [{"message": "Hello Ada"}, {"message": "Hello Grace"}]})]);
    ComponentsBuilder::new()
        .schema("Name", name)
        .schema("HelloRequest", hello_request)
        .schema("HelloReply", hello_reply)
        .schema("BatchHelloRequest", batch_request)
        .schema("BatchHelloReply", batch_reply)
        .schemas_from_iter(record_schemas::schemas())
        .schema("Error", ErrorBody::schema())
        .schemas_from_iter(schemas_of::<ErrorBody>())
        .schema("HealthStatus", HealthStatus::schema())
        .schemas_from_iter(schemas_of::<HealthStatus>())
        .security_scheme(
            BEARER_AUTH,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "`authorization: Bearer TOKEN`, required on the Greeter routes when the \
                         server runs with `--auth-token` (or `--auth-token-file`); without it \
                         they are open",
                    ))
                    .build(),
            ),
        )
        .build()
}

/// The schemas a derived type refers to (its nested types).
fn schemas_of<T: ToSchema>() -> Vec<(String, RefOr<Schema>)> {
    let mut schemas = Vec::new();
    T::schemas(&mut schemas);
    schemas
}

fn schema_ref(name: &str) -> Ref {
    Ref::from_schema_name(name)
}

/// A message body in either encoding. Both media types name the same schema: it describes the
/// message, and the media type says how it is written (proto3 JSON, or protobuf bytes).
fn json_or_protobuf(schema: &str, example: Value) -> [(&'static str, utoipa::openapi::Content); 2] {
    [
        (
            JSON,
            ContentBuilder::new().schema(Some(schema_ref(schema))).example(Some(example)).build(),
        ),
        (PROTOBUF, ContentBuilder::new().schema(Some(schema_ref(schema))).build()),
    ]
}

fn message_body(schema: &str, example: Value) -> utoipa::openapi::request_body::RequestBody {
    let [(json, json_content), (protobuf, protobuf_content)] = json_or_protobuf(schema, example);
    RequestBodyBuilder::new()
        .required(Some(Required::True))
        .content(json, json_content)
        .content(protobuf, protobuf_content)
        .build()
}

fn message_response(description: &str, schema: &str, example: Value) -> utoipa::openapi::Response {
    let [(json, json_content), (protobuf, protobuf_content)] = json_or_protobuf(schema, example);
    ResponseBuilder::new()
        .description(description)
        .content(json, json_content)
        .content(protobuf, protobuf_content)
        .build()
}

/// The media types a route's replies come in, as its 406 says.
const MESSAGE_MEDIA: &str = "application/json, application/x-protobuf";
const STREAM_MEDIA: &str = "text/event-stream, application/x-ndjson";

/// What a Greeter route takes, which decides the errors it can give.
#[derive(Clone, Copy)]
struct Takes {
    /// A request body: 413 and 415 are possible.
    body: bool,
    /// The media types it chooses its reply from by `Accept` (406 possible), if it does.
    offers: Option<&'static str>,
}

/// The errors a Greeter route can give, in the one error shape, each with an example made by
/// the code that answers it (the domain's errors, and the refusals of `error.rs`).
fn greeter_errors(takes: Takes) -> Vec<(String, utoipa::openapi::Response)> {
    let header_limit = ConnectionLimits::default().max_header_bytes;
    let mut errors = vec![
        (400, "The request breaks a rule", ApiError::from(DomainError::EmptyName)),
        (
            431,
            "The request's headers are larger than the server accepts (--max-header-bytes)",
            headers_too_large(header_limit),
        ),
    ];
    if let Some(offers) = takes.offers {
        let description = "`Accept` allows none of the reply's media types";
        errors.push((406, description, not_acceptable(offers)));
    }
    if takes.body {
        errors.extend([
            (413, "The body is larger than the server accepts", Refusal::BodyTooLarge.error()),
            (
                415,
                "`Content-Type` is neither JSON nor protobuf",
                Refusal::UnsupportedMediaType.error(),
            ),
        ]);
    }
    errors.extend([
        (
            401,
            "The server requires `authorization: Bearer TOKEN` (--auth-token) and the request lacks it",
            Refusal::BadToken.error(),
        ),
        (
            503,
            "Too many requests in flight, or the server is shutting down: retry",
            Refusal::Overloaded.error(),
        ),
        (504, "The request took longer than the server allows", Refusal::TimedOut.error()),
    ]);
    errors
        .into_iter()
        .map(|(status, description, error)| {
            let example = serde_json::to_value(error.into_body()).expect("errors serialize");
            let content = ContentBuilder::new()
                .schema(Some(schema_ref("Error")))
                .example(Some(example))
                .build();
            (
                status.to_string(),
                ResponseBuilder::new().description(description).content(JSON, content).build(),
            )
        })
        .collect()
}

fn name_parameter() -> utoipa::openapi::path::Parameter {
    ParameterBuilder::new()
        .name("name")
        .parameter_in(ParameterIn::Path)
        .required(Required::True)
        .schema(Some(schema_ref("Name")))
        .example(Some(json!("World")))
        .build()
}

/// A Greeter route: open unless the server runs with a bearer token (`--auth-token`), so
/// either no security or the token.
fn greeter_operation(id: &str, summary: &str) -> OperationBuilder {
    OperationBuilder::new()
        .tag("Greeter")
        .operation_id(Some(id))
        .summary(Some(summary))
        .security(SecurityRequirement::default())
        .security(SecurityRequirement::new(BEARER_AUTH, Vec::<String>::new()))
}

/// The name of the bearer-token security scheme.
const BEARER_AUTH: &str = "bearerAuth";

/// Where a unary route reads its request message from.
pub(super) enum Request {
    /// The body, in either encoding: the message's schema, and an example in JSON.
    Body(&'static str, Value),
    /// The `{name}` of the path (a HelloRequest's only field).
    NameInPath,
}

/// A unary Greeter route: one request, one reply message (its description, schema and an
/// example), the reply's encoding chosen by `Accept`.
pub(super) fn unary(
    id: &str,
    summary: &str,
    request: Request,
    reply: (&str, &str, Value),
) -> OperationBuilder {
    let operation = greeter_operation(id, summary);
    let (operation, body) = match request {
        Request::Body(schema, example) => {
            (operation.request_body(Some(message_body(schema, example))), true)
        }
        Request::NameInPath => (operation.parameter(name_parameter()), false),
    };
    let (description, schema, example) = reply;
    operation.responses(
        ResponsesBuilder::new()
            .response("200", message_response(description, schema, example))
            .responses_from_iter(greeter_errors(Takes { body, offers: Some(MESSAGE_MEDIA) })),
    )
}

pub(super) fn say_hello_stream() -> OperationBuilder {
    let count = ParameterBuilder::new()
        .name("count")
        .parameter_in(ParameterIn::Query)
        .required(Required::False)
        .description(Some(format!("How many greetings (default {DEFAULT_STREAM_COUNT})")))
        .schema(Some(
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .minimum(Some(1))
                .maximum(Some(MAX_STREAM_COUNT))
                .default(Some(json!(DEFAULT_STREAM_COUNT))),
        ))
        .example(Some(json!(3)))
        .build();
    let ndjson_example = "{\"message\":\"Hello World, greeting 1 of 2\"}\n{\"message\":\"Hello World, greeting 2 of 2\"}\n";
    let sse_example = "data: {\"message\":\"Hello World, greeting 1 of 2\"}\n\ndata: {\"message\":\"Hello World, greeting 2 of 2\"}\n\n";
    let stream_content = |example: &str| {
        ContentBuilder::new()
            .schema(Some(ObjectBuilder::new().schema_type(Type::String).description(Some(
                "One HelloReply in proto3 JSON per line (NDJSON) or per `data:` event (SSE)",
            ))))
            .example(Some(json!(example)))
            .build()
    };
    greeter_operation("SayHelloStreamReply", "Streams greetings (SayHelloStreamReply)")
        .description(Some(
            "Server streaming as newline-delimited JSON (`application/x-ndjson`, the default) or \
             Server-Sent Events (`text/event-stream`), chosen by `Accept`. Every input is \
             checked before the first greeting, so errors come as a plain 400.",
        ))
        .parameter(name_parameter())
        .parameter(count)
        .responses(
            ResponsesBuilder::new()
                .response(
                    "200",
                    ResponseBuilder::new()
                        .description("`count` greetings, in order")
                        .content(NDJSON, stream_content(ndjson_example))
                        .content(SSE, stream_content(sse_example))
                        .build(),
                )
                .responses_from_iter(greeter_errors(Takes {
                    body: false,
                    offers: Some(STREAM_MEDIA),
                })),
        )
}

pub(super) fn chat() -> OperationBuilder {
    greeter_operation("SayHelloBidiStream", "Chats over a WebSocket (SayHelloBidiStream)")
        .description(Some(
            "Upgrade to a WebSocket (`Connection: Upgrade`, `Upgrade: websocket`). Each text \
             frame holds a HelloRequest in JSON and is answered by a HelloReply in JSON; each \
             binary frame holds a protobuf HelloRequest and is answered in protobuf. The first \
             invalid request is answered by an `Error` text frame, then a close frame (1008 for \
             a broken rule, 1007 for an undecodable message). Without an upgrade the route \
             answers 400. Over HTTP/2 the WebSocket opens with an extended CONNECT instead \
             (RFC 8441, `:protocol websocket`; no `Sec-WebSocket-Key`).",
        ))
        .parameters(Some(websocket_handshake_headers()))
        .responses(
            ResponsesBuilder::new()
                .response(
                    "101",
                    ResponseBuilder::new()
                        .description("Switching to the WebSocket protocol")
                        .build(),
                )
                .responses_from_iter(greeter_errors(Takes { body: false, offers: None })),
        )
}

/// The request headers of a WebSocket opening handshake (RFC 6455, section 4.1).
fn websocket_handshake_headers() -> Vec<utoipa::openapi::path::Parameter> {
    let header = |name: &str, schema: ObjectBuilder, example: &str| {
        ParameterBuilder::new()
            .name(name)
            .parameter_in(ParameterIn::Header)
            .required(Required::True)
            .schema(Some(schema.schema_type(Type::String)))
            .example(Some(json!(example)))
            .build()
    };
    vec![
        header("Connection", ObjectBuilder::new().enum_values(Some(["Upgrade"])), "Upgrade"),
        header("Upgrade", ObjectBuilder::new().enum_values(Some(["websocket"])), "websocket"),
        header("Sec-WebSocket-Version", ObjectBuilder::new().enum_values(Some(["13"])), "13"),
        header(
            "Sec-WebSocket-Key",
            ObjectBuilder::new().pattern(Some("^[A-Za-z0-9+/]{21}[AQgw]==$")),
            "dGhlIHNhbXBsZSBub25jZQ==",
        ),
    ]
}

fn health_content(status: &str) -> utoipa::openapi::Content {
    ContentBuilder::new()
        .schema(Some(schema_ref("HealthStatus")))
        .example(Some(json!({"status": status})))
        .build()
}

/// A probe's operation: open even when the server requires a token (probes never carry one),
/// answering `HealthStatus` with each of `replies` (status, description, `status` field).
fn probe(id: &str, summary: &str, replies: &[(&str, &str, &str)]) -> OperationBuilder {
    let operation = OperationBuilder::new()
        .tag("Health")
        .operation_id(Some(id))
        .securities(Some(Vec::<SecurityRequirement>::new()))
        .summary(Some(summary));
    replies.iter().fold(operation, |operation, &(status, description, serving)| {
        let reply =
            ResponseBuilder::new().description(description).content(JSON, health_content(serving));
        operation.response(status, reply.build())
    })
}

pub(super) fn healthz() -> OperationBuilder {
    probe("Healthz", "The process is alive", &[("200", "Alive", "SERVING")])
}

pub(super) fn readyz() -> OperationBuilder {
    probe(
        "Readyz",
        "The process wants traffic",
        &[("200", "Ready", "SERVING"), ("503", "Draining before shutdown", "NOT_SERVING")],
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use contract::greeter::Name;

    #[test]
    fn name_pattern_agrees_with_the_domain_for_every_character() {
        let pattern = regex::Regex::new(NAME_PATTERN).unwrap();
        for c in (0..=0x10FFFF_u32).filter_map(char::from_u32) {
            let name = c.to_string();
            assert_eq!(pattern.is_match(&name), Name::parse(&name).is_ok(), "U+{:04X}", c as u32);
        }
    }

    #[test]
    fn name_pattern_agrees_with_the_domain_on_longer_names() {
        let pattern = regex::Regex::new(NAME_PATTERN).unwrap();
        for name in
            ["  Ada  ", "Ada\n", "\u{3000}x\u{3000}", " \u{85} ", "a\u{7f}b", "Zoë Ğ", "\u{feff}"]
        {
            assert_eq!(pattern.is_match(name), Name::parse(name).is_ok(), "{name:?}");
        }
    }

    /// The document lists every route of the table with its method and an operation id, and
    /// nothing else.
    #[test]
    fn the_document_is_openapi_3_1_with_every_route_of_the_table() {
        use super::super::routes::{self, Method};
        let document = serde_json::to_value(super::super::openapi_document()).unwrap();
        assert_eq!(document["openapi"], "3.1.0");
        let table: Vec<(&str, Method)> =
            (routes::GREETER.iter().map(|route| (route.path, route.method)))
                .chain(routes::HEALTH.iter().map(|route| (route.path, route.method)))
                .collect();
        let mut listed = 0;
        for (path, item) in document["paths"].as_object().unwrap() {
            for (method, operation) in item.as_object().unwrap() {
                listed += 1;
                let method = match method.as_str() {
                    "get" => Method::Get,
                    "post" => Method::Post,
                    other => panic!("{path}: the table has no routes for {other}"),
                };
                assert!(
                    table.contains(&(path.as_str(), method)),
                    "{method:?} {path} is not in the table"
                );
                assert!(
                    operation["operationId"].is_string(),
                    "{method:?} {path} has no operation id"
                );
            }
        }
        assert_eq!(listed, table.len(), "routes of the table missing from the document: {table:?}");
    }
}
