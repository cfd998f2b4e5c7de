//! proto3 JSON for the Greeter's messages, read and written in one way wherever JSON travels:
//! REST bodies, and the JSON codec of gRPC, gRPC-Web and Connect on the gRPC port, which turns
//! each message into its protobuf twin before the services see it (see [`JsonCodec`]).

use prost::Message;
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
pub fn codec_for(path: &str) -> Option<&'static JsonCodec> {
    Some(match path.strip_prefix("/helloworld.Greeter/")? {
        "SayHello" | "SayHelloAgain" => &codec::<HelloRequest, HelloReply>::CODEC,
        "SayHelloStreamReply" => &codec::<HelloStreamRequest, HelloReply>::CODEC,
        "SayHelloBidiStream" => &codec::<HelloRequest, HelloReply>::CODEC,
        "SayHelloBatch" => &codec::<BatchHelloRequest, BatchHelloReply>::CODEC,
        "EchoComplex" => &codec::<ComplexRequest, ComplexReply>::CODEC,
        "EchoPeople" => &codec::<PeopleRequest, PeopleReply>::CODEC,
        _ => return None,
    })
}

/// The codec of a method taking `Req` and answering `Reply`, made once per pair.
#[allow(non_camel_case_types)]
struct codec<Req, Reply>(std::marker::PhantomData<(Req, Reply)>);

impl<Req, Reply> codec<Req, Reply>
where
    Req: Message + DeserializeOwned,
    Reply: Message + Default + Serialize,
{
    const CODEC: JsonCodec = JsonCodec {
        request_to_protobuf: |json| Ok(decode_object::<Req>(json)?.encode_to_vec()),
        reply_to_json: |protobuf| {
            let reply = Reply::decode(protobuf).map_err(|error| error.to_string())?;
            serde_json::to_vec(&reply).map_err(|error| error.to_string())
        },
    };
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
