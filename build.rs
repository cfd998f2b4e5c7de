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
    commit();
    let descriptors = protox::compile([PROTO], ["proto"])?;
    let out_dir = PathBuf::from(env::var("OUT_DIR")?);
    fs::write(out_dir.join("helloworld_descriptor.bin"), descriptors.encode_to_vec())?;
    tonic_prost_build::configure()
        .type_attribute(".helloworld", MESSAGE_DERIVES)
        .compile_fds(descriptors)?;
    Ok(())
}

/// The commit the binary is built from, for `compare`'s provenance: `git rev-parse` where the
/// source is a git checkout, "unknown" elsewhere (a container build has no `.git`).
fn commit() {
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .output()
            .ok()
            .filter(|output| output.status.success())
            .and_then(|output| String::from_utf8(output.stdout).ok())
            .map(|text| text.trim().to_owned())
    };
    let commit = git(&["rev-parse", "--short=12", "HEAD"]).unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=RPC_VS_REST_COMMIT={commit}");
    // Rebuilt when HEAD moves: the file HEAD names (a branch) changes with every commit.
    if let Some(git_dir) = git(&["rev-parse", "--git-dir"]) {
        println!("cargo:rerun-if-changed={git_dir}/HEAD");
        if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
            println!("cargo:rerun-if-changed={git_dir}/{branch}");
        }
    }
}
