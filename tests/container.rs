//! The container image's recipe, checked without a container engine: hadolint finds nothing in
//! the Dockerfile, the build context (what .dockerignore lets through) is enough for cargo to
//! load the package and holds nothing else, and the runtime stage runs the binary as a
//! non-root user and exposes the ports it listens on.

/// The binary's command line, read as the binary reads it: manifests' arguments must parse.
#[path = "../src/cli.rs"]
mod cli;
mod common;

use std::{collections::BTreeSet, net::SocketAddr, path::Path, process::Command};

use crate::cli::Cli;
use clap::CommandFactory as _;
use common::tools;

/// What `cargo build` reads: the workspace's manifest and lock file, the protos the contract's
/// build script compiles, the binary's sources, the members (`crates/`), and the benches
/// Cargo.toml declares by name.
const BUILD_INPUTS: [&str; 6] = ["Cargo.toml", "Cargo.lock", "proto", "src", "crates", "benches"];

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn dockerfile_passes_hadolint_without_findings() {
    let Some(hadolint) = tools::require("hadolint") else { return };
    let mut command = Command::new(hadolint);
    // Only the repository's own settings (none: no rule is waived): not a personal
    // ~/.config/hadolint.yaml or HADOLINT_* variables that could ignore rules.
    command.current_dir(root()).env("HOME", "/nonexistent").env("XDG_CONFIG_HOME", "/nonexistent");
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("HADOLINT_") {
            command.env_remove(name);
        }
    }
    let output = command
        .args(["--no-color", "--failure-threshold", "style", "Dockerfile"])
        .output()
        .expect("run hadolint");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "hadolint found:\n{stdout}{stderr}");
    assert!(stdout.trim().is_empty(), "hadolint printed findings:\n{stdout}");
}

#[test]
fn docker_build_context_holds_the_build_inputs_and_nothing_else() {
    let dockerignore = std::fs::read_to_string(root().join(".dockerignore")).unwrap();
    let patterns: Vec<&str> = dockerignore
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .collect();
    // An allow-list: everything out, then the inputs back in.
    assert_eq!(patterns.first(), Some(&"*"), ".dockerignore must start by excluding everything");
    let allowed: BTreeSet<&str> = patterns[1..]
        .iter()
        .map(|pattern| {
            let path = pattern.strip_prefix('!').unwrap_or_else(|| {
                panic!(".dockerignore excludes {pattern:?} after `*`: nothing is left to exclude")
            });
            path.trim_end_matches('/')
        })
        .collect();
    assert_eq!(allowed, BTreeSet::from(BUILD_INPUTS), ".dockerignore lets through");

    // Cargo must accept the package as the builder sees it: a [[bench]] whose file is left
    // out, say, fails every `cargo build`, even of the binary alone.
    let context = tempfile::tempdir().unwrap();
    for input in BUILD_INPUTS {
        copy(&root().join(input), &context.path().join(input));
    }
    // `fetch` loads every target of the package like `build` does (`metadata` lets a missing
    // one pass), without compiling anything. It downloads what the lock file names for this
    // host that the cache lacks (an optional feature's packages, which a default build never
    // fetched), so the check holds on any machine that reaches the registry, as a build
    // must. For this host only: without `--target` it wants the packages of every platform
    // in the lock file (wasm-only ones among them).
    let output = Command::new(env!("CARGO"))
        .current_dir(context.path())
        .args(["fetch", "--locked", "--target", &host_target()])
        .output()
        .expect("run cargo fetch");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "cargo cannot load the build context:\n{stderr}");
}

#[test]
fn the_image_runs_the_binary_as_non_root_and_exposes_its_ports() {
    let dockerfile = std::fs::read_to_string(root().join("Dockerfile")).unwrap();
    let runtime = dockerfile.rsplit("\nFROM ").next().unwrap();
    let instruction = |keyword: &str| -> Vec<&str> {
        runtime.lines().filter_map(|line| line.strip_prefix(keyword)).map(str::trim).collect()
    };

    assert!(
        runtime.starts_with("gcr.io/distroless/cc-debian12:nonroot"),
        "the runtime stage is distroless: {}",
        runtime.lines().next().unwrap()
    );
    // Numeric, so that Kubernetes' runAsNonRoot can check it; distroless's nonroot user.
    assert_eq!(instruction("USER "), ["65532:65532"]);

    let binary = "/usr/local/bin/rpc-vs-rest";
    assert_eq!(instruction("ENTRYPOINT "), [format!("[\"{binary}\"]")]);
    let copies = instruction("COPY ");
    assert_eq!(copies.len(), 1, "only the binary is copied into the runtime stage: {copies:?}");
    assert!(copies[0].ends_with(&format!("/target/release/rpc-vs-rest {binary}")), "{copies:?}");

    let exposed: BTreeSet<u16> = instruction("EXPOSE ")
        .iter()
        .flat_map(|ports| ports.split_whitespace())
        .map(|port| port.parse().expect("EXPOSE takes port numbers"))
        .collect();
    assert_eq!(exposed, default_ports(), "EXPOSE lists the ports `serve` listens on by default");
}

/// The ports in the defaults of `--grpc-addr` and `--rest-addr`.
fn default_ports() -> BTreeSet<u16> {
    Cli::command()
        .get_arguments()
        .filter(|arg| matches!(arg.get_long(), Some("grpc-addr" | "rest-addr")))
        .map(|arg| {
            let default = arg.get_default_values()[0].to_string_lossy();
            default.parse::<SocketAddr>().expect("a default address").port()
        })
        .collect()
}

/// The target triple this toolchain builds for by default (`rustc -vV`'s `host:` line).
fn host_target() -> String {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let output = Command::new(rustc).arg("-vV").output().expect("run rustc -vV");
    let version = String::from_utf8_lossy(&output.stdout);
    version
        .lines()
        .find_map(|line| line.strip_prefix("host: "))
        .unwrap_or_else(|| panic!("rustc -vV names no host:\n{version}"))
        .trim()
        .to_owned()
}

fn copy(from: &Path, to: &Path) {
    if from.is_dir() {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            copy(&entry.path(), &to.join(entry.file_name()));
        }
    } else {
        std::fs::copy(from, to).unwrap_or_else(|error| panic!("copy {from:?}: {error}"));
    }
}
