//! Envoy's gRPC-JSON transcoder as a REST front door (`--via transcoder`): REST with JSON
//! bodies in, gRPC out, to the gRPC port of the servers (ours, or any gRPC greeter, such as the
//! seed's grpc-go one). The transcoder reads its routes from `google.api.http` options in a
//! descriptor set; this builds that set from the contract's own two sources, the descriptor
//! generated from proto/helloworld.proto and its REST rules (`HTTP_RULES`, which grpc-gateway's
//! configuration is rendered from too), so the routes are declared once.

use contract::{
    proto::FILE_DESCRIPTOR_SET,
    rest_api::{HTTP_RULES, HttpRule, RuleMethod},
};
use prost::Message as _;

/// The descriptor set Envoy's transcoder reads (`proto_descriptor`): helloworld.proto's, each
/// Greeter method that has rules carrying them as its `google.api.http` option. prost's own
/// descriptor types keep no extensions, so the services are written with types of their own
/// (below) beside the rest of each file, which is passed through as it is.
pub(crate) fn descriptor_set() -> anyhow::Result<Vec<u8>> {
    let set = prost_types::FileDescriptorSet::decode(FILE_DESCRIPTOR_SET)?;
    let mut out = Vec::new();
    for mut file in set.file {
        let services = std::mem::take(&mut file.service);
        let mut bytes = file.encode_to_vec();
        for service in services {
            let annotated = ServiceDescriptor {
                name: service.name().to_owned(),
                method: service
                    .method
                    .iter()
                    .map(|method| MethodDescriptor {
                        name: method.name().to_owned(),
                        input_type: method.input_type().to_owned(),
                        output_type: method.output_type().to_owned(),
                        options: Some(MethodOptions {
                            idempotency_level: method
                                .options
                                .as_ref()
                                .and_then(|options| options.idempotency_level),
                            http: match service.name() {
                                "Greeter" => rule_of(method.name()),
                                _ => None,
                            },
                        }),
                        client_streaming: method.client_streaming(),
                        server_streaming: method.server_streaming(),
                    })
                    .collect(),
            };
            // FileDescriptorProto's field 6, `service`: fields may come in any order.
            prost::encoding::message::encode(6, &annotated, &mut bytes);
        }
        // FileDescriptorSet's field 1, `file`.
        prost::encoding::bytes::encode(1, &bytes, &mut out);
    }
    Ok(out)
}

/// An RPC's rules as one `HttpRule`: the first its binding, the others additional bindings.
fn rule_of(rpc: &str) -> Option<Rule> {
    let mut rules = HTTP_RULES.iter().filter(|rule| rule.rpc == rpc).map(Rule::of);
    let mut first = rules.next()?;
    first.additional_bindings = rules.collect();
    Some(first)
}

/// google.protobuf.ServiceDescriptorProto, as far as the transcoder reads it.
#[derive(Clone, PartialEq, prost::Message)]
struct ServiceDescriptor {
    #[prost(string, tag = "1")]
    name: String,
    #[prost(message, repeated, tag = "2")]
    method: Vec<MethodDescriptor>,
}

/// google.protobuf.MethodDescriptorProto.
#[derive(Clone, PartialEq, prost::Message)]
struct MethodDescriptor {
    #[prost(string, tag = "1")]
    name: String,
    #[prost(string, tag = "2")]
    input_type: String,
    #[prost(string, tag = "3")]
    output_type: String,
    #[prost(message, optional, tag = "4")]
    options: Option<MethodOptions>,
    #[prost(bool, tag = "5")]
    client_streaming: bool,
    #[prost(bool, tag = "6")]
    server_streaming: bool,
}

/// google.protobuf.MethodOptions, with google/api/annotations.proto's `http` extension.
#[derive(Clone, PartialEq, prost::Message)]
struct MethodOptions {
    #[prost(int32, optional, tag = "34")]
    idempotency_level: Option<i32>,
    #[prost(message, optional, tag = "72295728")]
    http: Option<Rule>,
}

/// google.api.HttpRule: one binding (its pattern and body) and further bindings.
#[derive(Clone, PartialEq, prost::Message)]
struct Rule {
    #[prost(string, optional, tag = "2")]
    get: Option<String>,
    #[prost(string, optional, tag = "4")]
    post: Option<String>,
    #[prost(string, tag = "7")]
    body: String,
    #[prost(message, repeated, tag = "11")]
    additional_bindings: Vec<Rule>,
}

impl Rule {
    fn of(rule: &HttpRule) -> Self {
        let path = Some(rule.path.to_owned());
        let (get, post) = match rule.method {
            RuleMethod::Get => (path, None),
            RuleMethod::Post => (None, path),
        };
        Self {
            get,
            post,
            body: rule.body.unwrap_or_default().to_owned(),
            additional_bindings: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rule_lands_on_its_greeter_method_and_the_rest_of_the_file_is_kept() {
        let bytes = descriptor_set().unwrap();
        // Read back with prost's own types: the files and services as they were.
        let set = prost_types::FileDescriptorSet::decode(bytes.as_slice()).unwrap();
        let original = prost_types::FileDescriptorSet::decode(FILE_DESCRIPTOR_SET).unwrap();
        assert_eq!(set.file.len(), original.file.len());
        for (file, was) in set.file.iter().zip(&original.file) {
            assert_eq!(file.message_type, was.message_type);
            assert_eq!(file.service.len(), was.service.len());
        }
        // And with ours: every rule is on its method.
        let mut rules = 0;
        let file =
            original.file.iter().position(|f| f.service.iter().any(|s| s.name() == "Greeter"));
        let mut reader = bytes.as_slice();
        let mut at = 0;
        while !reader.is_empty() {
            let (tag, _) = prost::encoding::decode_key(&mut reader).unwrap();
            assert_eq!(tag, 1);
            let length = prost::encoding::decode_varint(&mut reader).unwrap() as usize;
            let (mut one, rest) = reader.split_at(length);
            reader = rest;
            if Some(at) == file {
                while !one.is_empty() {
                    let (tag, wire) = prost::encoding::decode_key(&mut one).unwrap();
                    if tag == 6 {
                        let length = prost::encoding::decode_varint(&mut one).unwrap() as usize;
                        let service = ServiceDescriptor::decode(&one[..length]).unwrap();
                        for method in service.method {
                            if let Some(rule) = method.options.and_then(|options| options.http) {
                                rules += 1 + rule.additional_bindings.len();
                            }
                        }
                        one = &one[length..];
                    } else {
                        prost::encoding::skip_field(wire, tag, &mut one, Default::default())
                            .unwrap();
                    }
                }
            }
            at += 1;
        }
        assert_eq!(rules, HTTP_RULES.len());
    }
}
