//! Compiles `proto/helloworld.proto` with protox (pure Rust: no system `protoc`), generates the
//! prost messages and tonic stubs, and writes the encoded descriptor set for server reflection.

use std::{env, fs, path::PathBuf};

use prost::Message as _;

/// The contract, at the top of the repository (this crate is `crates/contract/`).
const PROTO: &str = "../../proto/helloworld.proto";
const PROTO_DIR: &str = "../../proto";

/// gRPC's own helloworld messages and our first additions hold only strings and counts, whose
/// proto3 JSON is what serde's derive writes; the REST adapter serialises them that way.
const SERDE_DERIVED: [&str; 5] = [
    ".helloworld.HelloRequest",
    ".helloworld.HelloReply",
    ".helloworld.HelloStreamRequest",
    ".helloworld.BatchHelloRequest",
    ".helloworld.BatchHelloReply",
];
const MESSAGE_DERIVES: &str = "#[derive(serde::Serialize, serde::Deserialize)] \
     #[serde(rename_all = \"camelCase\", default, deny_unknown_fields)]";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed={PROTO}");
    let descriptors = protox::compile([PROTO], [PROTO_DIR])?;
    let out_dir = PathBuf::from(env::var("OUT_DIR")?);
    fs::write(out_dir.join("helloworld_descriptor.bin"), descriptors.encode_to_vec())?;
    let mut config = tonic_prost_build::configure()
        // Timestamps as our own type, which writes the canonical proto3 JSON text.
        .extern_path(".google.protobuf.Timestamp", "crate::proto::Timestamp")
        // Maps in key order, so that a reply reads the same on every call and every protocol.
        .btree_map(".helloworld");
    for message in SERDE_DERIVED {
        config = config.type_attribute(message, MESSAGE_DERIVES);
    }
    // Each message knows its proto name (`prost::Name`): the OpenAPI document names its
    // schemas by it.
    let mut names = tonic_prost_build::Config::new();
    names.enable_type_names();
    config.compile_fds_with_config(descriptors.clone(), names)?;
    // Every other message (int64, bytes, enums, maps, timestamps) gets pbjson's generated
    // serde code, which follows the proto3 JSON mapping field type by field type.
    pbjson_build::Builder::new()
        .register_descriptors(&descriptors.encode_to_vec())?
        .exclude(SERDE_DERIVED)
        .btree_map([".helloworld"])
        .build(&[".helloworld"])?;
    refuse_repeated_map_keys(&out_dir.join("helloworld.serde.rs"))?;
    Ok(())
}

/// pbjson reads a map field's JSON object into a `BTreeMap`, where a key given twice keeps its
/// last value in silence; our `UniqueKeys` refuses it instead. pbjson has no setting for this,
/// so its generated code is edited; a pbjson that writes map reads differently fails the build
/// here rather than dropping the check.
fn refuse_repeated_map_keys(path: &std::path::Path) -> Result<(), Box<dyn std::error::Error>> {
    const PBJSON_MAP_READ: &str = "map_.next_value::<std::collections::BTreeMap<_, _>>()?";
    const UNIQUE_KEYS_READ: &str = "map_.next_value::<crate::proto::UniqueKeys<_, _>>()?.0";
    let code = fs::read_to_string(path)?;
    if !code.contains(PBJSON_MAP_READ) {
        return Err(format!("{}: no `{PBJSON_MAP_READ}` to replace", path.display()).into());
    }
    fs::write(path, code.replace(PBJSON_MAP_READ, UNIQUE_KEYS_READ))?;
    Ok(())
}
