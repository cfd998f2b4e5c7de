//! Compiles `proto/helloworld.proto` with protox (pure Rust: no system `protoc`), generates the
//! prost messages and tonic stubs, and writes the encoded descriptor set for server reflection.

use std::{env, fs, path::PathBuf};

use prost::Message as _;

const PROTO: &str = "proto/helloworld.proto";

/// The REST adapter serialises the same messages as proto3 canonical JSON through serde.
const MESSAGE_DERIVES: &str = "#[derive(serde::Serialize, serde::Deserialize)] \
     #[serde(rename_all = \"camelCase\", default, deny_unknown_fields)]";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed={PROTO}");
    let descriptors = protox::compile([PROTO], ["proto"])?;
    let out_dir = PathBuf::from(env::var("OUT_DIR")?);
    fs::write(out_dir.join("helloworld_descriptor.bin"), descriptors.encode_to_vec())?;
    tonic_prost_build::configure()
        .type_attribute(".helloworld", MESSAGE_DERIVES)
        .compile_fds(descriptors)?;
    Ok(())
}
