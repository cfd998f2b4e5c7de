//! The gRPC port's content-type table: which protocol a request speaks, read from its method
//! and `content-type` alone, before any byte of its body is read. Anything the port does not
//! serve is refused here (415, with the media types it does serve), never decoded as gRPC.

use axum::http::Method;

/// Every media type the gRPC port serves, in the `Accept-Post` header of a 415.
pub(crate) const SERVED: &str = "application/grpc, application/grpc+proto, \
    application/grpc+json, application/grpc-web, application/grpc-web+proto, \
    application/grpc-web+json, application/grpc-web-text, application/grpc-web-text+proto, \
    application/grpc-web-text+json, application/proto, application/json, \
    application/connect+proto, application/connect+json";

/// What a request speaks, and in which message format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Speaks<'a> {
    /// gRPC: protobuf, or with `json` proto3 JSON (`application/grpc+json`).
    Grpc { json: bool },
    /// gRPC with a codec this server does not have (`application/grpc+cbor`): UNIMPLEMENTED.
    GrpcOtherCodec(&'a str),
    /// gRPC-Web, binary or base64 `text`.
    GrpcWeb { text: bool, json: bool },
    /// A Connect unary call (`application/proto`, `application/json`).
    ConnectUnary { json: bool },
    /// A Connect stream (`application/connect+proto`, `application/connect+json`).
    ConnectStream { json: bool },
    /// A Connect GET of a method without side effects: its message rides in the query.
    ConnectGet,
    /// Nothing served here: 415.
    Unsupported,
}

impl<'a> Speaks<'a> {
    pub(crate) fn of(method: &Method, content_type: Option<&'a [u8]>) -> Self {
        if method == Method::GET {
            return Speaks::ConnectGet;
        }
        let Some(content_type) = content_type.and_then(|value| std::str::from_utf8(value).ok())
        else {
            return Speaks::Unsupported;
        };
        let essence = content_type.split(';').next().unwrap_or_default().trim();
        let (base, codec) = match essence.split_once('+') {
            Some((base, codec)) => (base, Some(codec)),
            None => (essence, None),
        };
        let is = |name: &str| base.eq_ignore_ascii_case(name);
        let json = match codec {
            None => false,
            Some(codec) if codec.eq_ignore_ascii_case("proto") => false,
            Some(codec) if codec.eq_ignore_ascii_case("json") => true,
            Some(codec) if is("application/grpc") => return Speaks::GrpcOtherCodec(codec),
            Some(_) => return Speaks::Unsupported,
        };
        if is("application/grpc") {
            Speaks::Grpc { json }
        } else if is("application/grpc-web") {
            Speaks::GrpcWeb { text: false, json }
        } else if is("application/grpc-web-text") {
            Speaks::GrpcWeb { text: true, json }
        } else if is("application/connect") && codec.is_some() {
            Speaks::ConnectStream { json }
        } else if codec.is_none() && is("application/proto") {
            Speaks::ConnectUnary { json: false }
        } else if codec.is_none() && is("application/json") {
            Speaks::ConnectUnary { json: true }
        } else {
            Speaks::Unsupported
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Speaks;
    use axum::http::Method;

    #[test]
    fn each_media_type_speaks_one_protocol() {
        let post =
            |content_type: &'static str| Speaks::of(&Method::POST, Some(content_type.as_bytes()));
        for (content_type, speaks) in [
            ("application/grpc", Speaks::Grpc { json: false }),
            ("application/grpc+proto", Speaks::Grpc { json: false }),
            ("application/grpc+json", Speaks::Grpc { json: true }),
            ("Application/GRPC+JSON", Speaks::Grpc { json: true }),
            ("application/grpc+cbor", Speaks::GrpcOtherCodec("cbor")),
            ("application/grpc-web", Speaks::GrpcWeb { text: false, json: false }),
            ("application/grpc-web+json", Speaks::GrpcWeb { text: false, json: true }),
            ("application/grpc-web-text+proto", Speaks::GrpcWeb { text: true, json: false }),
            ("application/grpc-web-text+json", Speaks::GrpcWeb { text: true, json: true }),
            ("application/proto", Speaks::ConnectUnary { json: false }),
            ("application/json", Speaks::ConnectUnary { json: true }),
            ("application/json; charset=utf-8", Speaks::ConnectUnary { json: true }),
            ("application/connect+proto", Speaks::ConnectStream { json: false }),
            ("application/connect+json", Speaks::ConnectStream { json: true }),
            ("application/connect", Speaks::Unsupported),
            ("application/json+proto", Speaks::Unsupported),
            ("text/plain", Speaks::Unsupported),
            ("application/x-protobuf", Speaks::Unsupported),
            ("application/grpc-web+cbor", Speaks::Unsupported),
        ] {
            assert_eq!(post(content_type), speaks, "{content_type}");
        }
        assert_eq!(Speaks::of(&Method::POST, None), Speaks::Unsupported);
        assert_eq!(Speaks::of(&Method::GET, None), Speaks::ConnectGet);
    }
}
