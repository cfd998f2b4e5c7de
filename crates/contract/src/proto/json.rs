//! proto3 JSON for the Greeter's messages, read and written in one way wherever JSON travels:
//! REST bodies, and the JSON codec of gRPC, gRPC-Web and Connect on the gRPC port, which turns
//! each message into its protobuf twin before the services see it (see [`JsonCodec`]).

use std::{collections::HashMap, sync::LazyLock};

use prost::{Message, Name};
use serde::{Serialize, de::DeserializeOwned};

use super::{
    BatchHelloReply, BatchHelloRequest, ComplexReply, ComplexRequest, HelloReply, HelloRequest,
    HelloStreamRequest, PeopleReply, PeopleRequest,
};

/// Reads one message from proto3 JSON. serde's derive also takes a struct as an array of its
/// fields; proto3 JSON does not. The error names the field where reading failed
/// (`invalid JSON body at people[0].createdAt: …`).
pub fn decode_object<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    let starts_as_object = bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
    if !starts_as_object {
        return Err("invalid JSON body: expected a JSON object".to_owned());
    }
    serde_json::from_slice(bytes).map_err(|error| match field_path::<T>(bytes) {
        Some(path) => format!("invalid JSON body at {path}: {error}"),
        None => format!("invalid JSON body: {error}"),
    })
}

/// Where in a refused JSON body decoding failed (`people[0].createdAt`), if inside a field.
/// The body is read again to learn it, so that only a refused request pays for the tracking.
fn field_path<T: DeserializeOwned>(bytes: &[u8]) -> Option<String> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let error = serde_path_to_error::deserialize::<_, T>(&mut deserializer).err()?;
    Some(error.path().to_string()).filter(|path| path != ".")
}

/// How one method's messages cross between proto3 JSON and protobuf: its request from JSON to
/// protobuf, its reply from protobuf to JSON.
#[derive(Debug)]
pub struct JsonCodec {
    pub request_to_protobuf: fn(&[u8]) -> Result<Vec<u8>, String>,
    pub reply_to_json: fn(&[u8]) -> Result<Vec<u8>, String>,
}

/// The JSON codec of a Greeter method, by its gRPC path (`/helloworld.Greeter/SayHello`); `None`
/// for the methods of other services (health, reflection), whose messages have no JSON form here.
/// Made from the service's descriptor (each method's request and reply types) and the table of
/// messages below, so that a new RPC over existing messages needs nothing here.
pub fn codec_for(path: &str) -> Option<&'static JsonCodec> {
    static CODECS: LazyLock<HashMap<String, JsonCodec>> = LazyLock::new(greeter_codecs);
    CODECS.get(path)
}

fn greeter_codecs() -> HashMap<String, JsonCodec> {
    let set = prost_types::FileDescriptorSet::decode(super::FILE_DESCRIPTOR_SET)
        .expect("the compiled descriptors decode");
    let package = set.file.iter().filter(|file| file.package() == "helloworld");
    let greeter = package.flat_map(|file| &file.service).find(|s| s.name() == "Greeter");
    let mut codecs = HashMap::new();
    for method in &greeter.expect("the Greeter is described").method {
        let request = json_form(method.input_type());
        let reply = json_form(method.output_type());
        if let (Some(request), Some(reply)) = (request, reply) {
            let codec = JsonCodec {
                request_to_protobuf: request.to_protobuf,
                reply_to_json: reply.to_json,
            };
            codecs.insert(format!("/helloworld.Greeter/{}", method.name()), codec);
        }
    }
    codecs
}

/// How one message crosses between proto3 JSON and protobuf.
struct JsonForm {
    to_protobuf: fn(&[u8]) -> Result<Vec<u8>, String>,
    to_json: fn(&[u8]) -> Result<Vec<u8>, String>,
}

/// The JSON form of the Greeter's message of this full name (`.helloworld.HelloRequest`, as
/// descriptors write it), if it has one: a message the Greeter's methods take or answer needs
/// a row here (`every_greeter_method_has_a_json_codec` says which is missing).
fn json_form(full_name: &str) -> Option<JsonForm> {
    let forms = [
        form::<HelloRequest>(),
        form::<HelloReply>(),
        form::<HelloStreamRequest>(),
        form::<BatchHelloRequest>(),
        form::<BatchHelloReply>(),
        form::<ComplexRequest>(),
        form::<ComplexReply>(),
        form::<PeopleRequest>(),
        form::<PeopleReply>(),
    ];
    let name = full_name.strip_prefix('.')?;
    forms.into_iter().find(|(form_name, _)| form_name == name).map(|(_, form)| form)
}

fn form<M>() -> (String, JsonForm)
where
    M: Message + Name + Default + Serialize + DeserializeOwned,
{
    let form = JsonForm {
        to_protobuf: |json| Ok(decode_object::<M>(json)?.encode_to_vec()),
        to_json: |protobuf| {
            let message = M::decode(protobuf).map_err(|error| error.to_string())?;
            serde_json::to_vec(&message).map_err(|error| error.to_string())
        },
    };
    (M::full_name(), form)
}

#[cfg(test)]
mod tests {
    use prost::Message as _;

    #[test]
    fn every_greeter_method_has_a_json_codec() {
        let set = prost_types::FileDescriptorSet::decode(super::super::FILE_DESCRIPTOR_SET)
            .expect("the compiled descriptors decode");
        let greeter =
            set.file.iter().flat_map(|file| &file.service).find(|s| s.name() == "Greeter");
        for method in &greeter.expect("the Greeter is described").method {
            let path = format!("/helloworld.Greeter/{}", method.name());
            let missing = [method.input_type(), method.output_type()]
                .into_iter()
                .filter(|message| super::json_form(message).is_none())
                .collect::<Vec<_>>();
            assert!(missing.is_empty(), "{path}: no JSON form of {missing:?} in proto::json");
            assert!(super::codec_for(&path).is_some(), "{path} has no JSON codec");
        }
    }

    #[test]
    fn a_request_crosses_to_protobuf_and_a_reply_back_to_json() {
        let codec = super::codec_for("/helloworld.Greeter/SayHello").unwrap();
        let protobuf = (codec.request_to_protobuf)(br#"{"name":"Ada"}"#).unwrap();
        assert_eq!(super::HelloRequest::decode(&protobuf[..]).unwrap().name, "Ada");
        let reply = super::HelloReply { message: "Hello Ada".into() }.encode_to_vec();
        assert_eq!((codec.reply_to_json)(&reply).unwrap(), br#"{"message":"Hello Ada"}"#);
        let refused = (codec.request_to_protobuf)(br#"{"name":7}"#).unwrap_err();
        assert!(refused.starts_with("invalid JSON body at name:"), "{refused}");
    }
}
