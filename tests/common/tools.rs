//! Outside tools the tests drive (grpcurl, Python's grpcio, npm packages, the example servers).
//! `scripts/test.sh` installs them into `.venv` and `tests/node` and builds the examples; a test
//! whose tool is missing skips with a message, except under `CI=true`, where it fails.

use std::path::{Path, PathBuf};

/// The tool from `.venv/bin` or `PATH`, or `None` after saying why the test is skipped.
/// Panics when the tool is missing and `CI=true`.
pub fn require(tool: &str) -> Option<PathBuf> {
    if let Some(path) = find(tool) {
        return Some(path);
    }
    missing(format!(
        "`{tool}` is not installed: run ./scripts/test.sh, which installs it into .venv"
    ))
}

/// Says why a test is skipped, and returns `None`; panics instead under `CI=true`.
pub fn missing(message: String) -> Option<PathBuf> {
    if std::env::var("CI").is_ok_and(|ci| ci == "true") {
        panic!("{message} (CI=true: missing tools fail the run)");
    }
    eprintln!("SKIPPED: {message}");
    None
}

fn find(tool: &str) -> Option<PathBuf> {
    let venv = super::repository().join(".venv/bin").join(tool);
    if venv.is_file() {
        return Some(venv);
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths).map(|dir| dir.join(tool)).find(|path| path.is_file())
    })
}

/// The project's Python (`.venv/bin/python`) when it can import `module`; `None` after saying
/// why the test is skipped. Panics when it cannot and `CI=true`.
pub fn require_python_with(module: &str) -> Option<PathBuf> {
    let python = super::repository().join(".venv/bin/python");
    let importable = std::process::Command::new(&python)
        .args(["-c", &format!("import {module}")])
        .output()
        .is_ok_and(|output| output.status.success());
    if importable {
        return Some(python);
    }
    missing(format!(
        "Python module `{module}` is not installed in .venv: run ./scripts/test.sh, which installs it"
    ))
}

/// `node`, when `tests/node` has the npm packages `package` is among (`scripts/test.sh` runs
/// `npm ci` there); `None` after saying why the test is skipped. Panics when either is missing
/// and `CI=true`.
pub fn require_node_with(package: &str) -> Option<PathBuf> {
    let node = require("node")?;
    let modules = super::repository().join("tests/node/node_modules");
    if modules.join(package).is_dir() {
        return Some(node);
    }
    missing(format!(
        "npm package `{package}` is not installed in tests/node: run ./scripts/test.sh, which installs it"
    ))
}

/// The example program `name`, as `cargo build --examples` leaves it beside the test binaries
/// (`cargo test` builds examples only under hashed names); `None` after saying why the test is
/// skipped. Panics when it is missing and `CI=true`.
pub fn require_example(name: &str) -> Option<PathBuf> {
    // Tests run from target/<profile>/deps; examples are in target/<profile>/examples.
    let exe = std::env::current_exe().expect("the test binary's path");
    let profile_dir = exe.parent().and_then(Path::parent).expect("target/<profile>/deps");
    let path = profile_dir.join("examples").join(name);
    if path.is_file() {
        return Some(path);
    }
    missing(format!(
        "example `{name}` is not built at {}: run ./scripts/test.sh, which builds the examples \
         (cargo build --examples)",
        path.display()
    ))
}

/// The Go server `name` that `scripts/go_baselines.sh` builds into `target/go` (run by
/// `scripts/test.sh`); `None` after saying why the test is skipped. Panics when it is missing
/// and `CI=true`.
pub fn require_go_server(name: &str) -> Option<PathBuf> {
    let path = super::repository().join("target/go").join(name);
    if path.is_file() {
        return Some(path);
    }
    missing(format!(
        "Go server `{name}` is not built at {}: run ./scripts/test.sh, which builds it \
         (scripts/go_baselines.sh, from Debian's Go packages)",
        path.display()
    ))
}

/// Starts the Go program `name` (see [`require_go_server`]) with `-addr 127.0.0.1:0` and
/// `args`; returns it, killed when dropped, and the loopback address it printed its port for
/// (its first line). `None` when it is not built.
pub async fn start_go_server(name: &str, args: &[&str]) -> Option<(tokio::process::Child, String)> {
    use tokio::io::{AsyncBufReadExt, BufReader};
    let binary = require_go_server(name)?;
    let mut child = tokio::process::Command::new(binary)
        .args(["-addr", "127.0.0.1:0"])
        .args(args)
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start the Go server");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let port = lines.next_line().await.unwrap().expect("the server prints its port");
    Some((child, format!("127.0.0.1:{port}")))
}

/// An example server started on a free loopback port (it prints the address it bound), with
/// `envs` set; killed when dropped.
pub struct Example {
    pub child: tokio::process::Child,
    pub addr: std::net::SocketAddr,
}

impl Example {
    /// `None` when the example is not built (see [`require_example`]).
    pub async fn start(name: &str, envs: &[(&str, &str)]) -> Option<Self> {
        use tokio::io::{AsyncBufReadExt, BufReader};
        let path = require_example(name)?;
        let mut child = tokio::process::Command::new(&path)
            .arg("127.0.0.1:0")
            .envs(envs.iter().copied())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|error| panic!("start {}: {error}", path.display()));
        let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
        let line = tokio::time::timeout(std::time::Duration::from_secs(30), stdout.next_line())
            .await
            .unwrap_or_else(|_| panic!("{name} printed no address within 30 s"))
            .unwrap()
            .unwrap_or_else(|| panic!("{name} exited before it served"));
        Some(Self { child, addr: line.parse().unwrap() })
    }
}

/// nginx, where Debian puts it (`/usr/sbin`, off a user's PATH) or on PATH; `None` after
/// saying why the test is skipped (a failure under CI=true).
pub fn nginx() -> Option<PathBuf> {
    system_tool("nginx")
}

/// A tool Debian installs in /usr/sbin (off a user's PATH) or one on PATH; `None` after saying
/// why the test is skipped (a failure under CI=true).
pub fn system_tool(tool: &str) -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .unwrap_or_default();
    let found = on_path
        .into_iter()
        .chain([PathBuf::from("/usr/sbin")])
        .map(|dir| dir.join(tool))
        .find(|path| path.is_file());
    if found.is_none() {
        return missing(format!(
            "`{tool}` is not installed: run ./scripts/test.sh, which installs it from Debian"
        ));
    }
    found
}
