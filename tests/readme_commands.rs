//! The README's command blocks (```sh), each run as printed where this machine can run it, or
//! checked as far as it can be without a cluster or a container engine, so that a promise that
//! stops holding fails here. A block this file does not know fails the first test: a new
//! block gets a check, or a line below saying why it has none. (The ```console examples are
//! run by `tests/readme.rs`.)

mod common;

use std::{path::Path, process::Output};

use common::{binary::Binary, tools};
use serde_yaml_ng::Value;
use tokio::process::Command;

/// The README and every document of docs/, where the README's longer command blocks went.
const README: &str = common::docs::ALL;
const COMPARE_JOB: &str = include_str!("../k8s/base/compare-job.yaml");

/// Each block, by the start of its first line, and where it is checked.
const BLOCKS: [(&str, &str); 15] = [
    ("cargo run --release  ", "scripts/fresh-clone-check.sh, from a fresh clone (.ci/run)"),
    (
        "cargo test -p rpc-vs-rest-contract",
        "each member's tests: ./scripts/test.sh runs every one of them (`cargo test --workspace`)",
    ),
    ("cargo run -- openapi >", "tests/openapi.rs: committed_openapi_json_matches_the_code"),
    ("PYTHONPATH=tests/contract", "tests/contract.rs runs this schemathesis command"),
    ("rpc-vs-rest openapi ", "a synopsis of the subcommands, not a command to run"),
    ("cargo run --release -- compare   ", "compare_commands_run_as_printed, below"),
    ("cargo run --release -- compare --repeats", "compare_commands_run_as_printed, below"),
    (
        "cargo run --release -- compare --servers 2 --via tcp",
        "tests/churn.rs: the same flags (a scale-up through --via tcp with \
         --server-max-connection-age) in shorter runs",
    ),
    (
        "cargo run --release -- compare --link 'rtt=20ms,loss=1%'",
        "tests/packet_link.rs: a_lossy_link_drops_packets_that_tcp_sends_again_and_every_call_\
         still_succeeds runs the same cells over such a link, at 2 % loss, in a shorter run",
    ),
    (
        "cargo run --release -- compare --servers 3 --cells",
        "tests/churn.rs: without_a_proxy_every_cell_spreads_its_calls_evenly_over_the_servers \
         runs the same flags, with a third cell, in a shorter run",
    ),
    (
        "docker build",
        "no container engine or cluster here: tests/container.rs lints the Dockerfile, and \
         tests/kubernetes.rs renders k8s/overlays/dev and validates it",
    ),
    (
        "rpc-vs-rest serve --max-connection-age",
        "tests/conforming_clients.rs: a_server_that_recycles_its_connections_costs_compare_no_call \
         runs this server and these cells on free ports",
    ),
    ("kubectl -n rpc-vs-rest-dev port-forward", "needs a cluster: the calls are tests/readme.rs's"),
    ("kubectl -n rpc-vs-rest-dev scale", "the_sharded_comparison_is_collected_as_printed, below"),
    (
        "cargo install cargo-fuzz",
        "a fuzzing campaign runs for an hour or more, not in CI: tests/fuzz_corpus.rs replays \
         what it found",
    ),
];

/// Every ```sh block of the README, as its lines.
fn sh_blocks() -> Vec<Vec<&'static str>> {
    README
        .split("```sh\n")
        .skip(1)
        .map(|block| block.split("\n```").next().unwrap_or_default().lines().collect())
        .collect()
}

#[test]
fn every_readme_command_block_is_checked() {
    let blocks = sh_blocks();
    for block in &blocks {
        let first = block.first().copied().unwrap_or_default();
        assert!(
            BLOCKS.iter().any(|(start, _)| first.starts_with(start)),
            "the README block starting `{first}` has no check in tests/readme_commands.rs"
        );
    }
    for (start, _) in BLOCKS {
        assert!(
            blocks.iter().any(|block| block.first().is_some_and(|first| first.starts_with(start))),
            "tests/readme_commands.rs lists a block starting `{start}` that the README lacks"
        );
    }
}

/// The block whose first line starts with `start`.
fn block(start: &str) -> Vec<&'static str> {
    sh_blocks()
        .into_iter()
        .find(|block| block.first().is_some_and(|first| first.starts_with(start)))
        .unwrap_or_else(|| panic!("no README block starts with `{start}`"))
}

/// A folder on PATH with stand-ins for `cargo` (`cargo run --release -- ARGS` runs the binary
/// this test was built with, as cargo would after building it) and, where given, `kubectl`.
fn stand_ins(dir: &Path, kubectl: Option<&str>) -> std::ffi::OsString {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let cargo = format!(
        "#!/usr/bin/env bash\n\
         [[ \"$1 $2 $3\" == 'run --release --' ]] || {{ echo \"cargo stand-in: $*\" >&2; exit 2; }}\n\
         shift 3\n\
         exec {} \"$@\" $SHORTEN\n",
        env!("CARGO_BIN_EXE_rpc-vs-rest")
    );
    let mut scripts = vec![("cargo", cargo)];
    if let Some(kubectl) = kubectl {
        scripts.push(("kubectl", kubectl.to_owned()));
    }
    for (name, script) in scripts {
        let path = bin.join(name);
        std::fs::write(&path, script).unwrap();
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::join_paths(std::iter::once(bin).chain(std::env::split_paths(&path))).unwrap()
}

async fn bash(script: &str, dir: &Path, path: &std::ffi::OsStr, envs: &[(&str, &str)]) -> Output {
    Command::new("bash")
        .args(["-euo", "pipefail", "-c", script])
        .current_dir(dir)
        .env("PATH", path)
        .envs(envs.iter().copied())
        .output()
        .await
        .unwrap()
}

fn succeeded(output: &Output, what: &str) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{what} failed:\n{stdout}\n{stderr}");
    stdout
}

/// The comparison's commands, each line as printed (but `--full`, a 12-minute matrix), with
/// short measurements appended so that they take seconds: they parse, run every cell they
/// name, and write the files they say they write.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compare_commands_run_as_printed() {
    let dir = tempfile::tempdir().unwrap();
    let path = stand_ins(dir.path(), None);
    let shorten = ("SHORTEN", "--warmup 0 --duration 0.1");
    let mut ran = 0;
    for start in ["cargo run --release -- compare   ", "cargo run --release -- compare --repeats"] {
        for line in block(start) {
            if line.starts_with('#') || line.contains("--full") {
                continue;
            }
            let output = bash(line, dir.path(), &path, &[shorten]).await;
            let printed = succeeded(&output, line);
            if !line.contains('>') {
                assert!(printed.contains("grpc") && printed.contains("rest-json-h1"), "{line}");
            }
            ran += 1;
        }
    }
    assert_eq!(ran, 4, "the README's compare commands changed: check what this test runs");
    for file in ["report.html", "before.json"] {
        let written = std::fs::metadata(dir.path().join(file)).map(|m| m.len()).unwrap_or(0);
        assert!(written > 1000, "{file} was not written");
    }
}

/// `kubectl logs` as kubectl documents it: with a label selector it prints the last 10 lines
/// unless `--tail` says otherwise. Each pod's log is what its container wrote (stdout and
/// stderr together), kept in `$LOGS/<container>-<index>.log`. Every other subcommand is
/// recorded; `apply -k DIR` renders DIR with the real kubectl, as the apply would.
const KUBECTL: &str = r#"#!/usr/bin/env bash
echo "$*" >> "$LOGS/kubectl-calls"
args=("$@"); container=; selector=; tail=; command=
for ((i = 0; i < ${#args[@]}; i++)); do
  case "${args[i]}" in
    -n) i=$((i + 1)) ;;
    -c) container=${args[i + 1]}; i=$((i + 1)) ;;
    -l) selector=${args[i + 1]}; i=$((i + 1)) ;;
    --tail=*) tail=${args[i]#--tail=} ;;
    --tail) tail=${args[i + 1]}; i=$((i + 1)) ;;
    -k) exec "$REAL_KUBECTL" kustomize "$REPO/${args[i + 1]}" > /dev/null ;;
    *) [[ -z $command ]] && command=${args[i]} ;;
  esac
done
[[ $command == logs ]] || exit 0
if [[ -z $tail ]]; then if [[ -n $selector ]]; then tail=10; else tail=-1; fi; fi
index=${selector##*job-completion-index=}
log="$LOGS/$container-${index%%,*}.log"
if [[ $tail == -1 ]]; then cat "$log"; else tail -n "$tail" "$log"; fi
"#;

/// A container's args from the compare Job, for shard `index` against `server`, measuring for
/// a second instead of ten.
fn job_args(container: &Value, index: usize, server: &Binary) -> Vec<String> {
    let args = container["args"].as_sequence().expect("the container has args");
    args.iter()
        .map(|arg| {
            let arg = arg.as_str().unwrap();
            let (flag, value) = arg.split_once('=').unwrap_or((arg, ""));
            match flag {
                "--grpc-target" if value.starts_with("dns:///") => {
                    format!("--grpc-target=dns:///{}", server.grpc_addr)
                }
                "--grpc-target" => format!("--grpc-target={}", server.grpc_addr),
                "--rest-target" => format!("--rest-target={}", server.rest_addr),
                "--shard" => format!("--shard={index}/3"),
                "--warmup" => "--warmup=0.2".into(),
                "--duration" => "--duration=1".into(),
                _ => arg.to_owned(),
            }
        })
        .collect()
}

/// The README's walkthrough of the sharded comparison, run as printed against stand-ins for
/// the cluster: each generator pod's log is a real `compare` run with the Job's own args (its
/// stdout and stderr together, as a container's log is), and `kubectl logs` returns it as
/// kubectl does. The merge must get every shard whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sharded_comparison_is_collected_as_printed() {
    let Some(real_kubectl) = tools::require("kubectl") else { return };
    let help = Command::new(&real_kubectl).args(["logs", "--help"]).output().await.unwrap();
    assert!(
        String::from_utf8_lossy(&help.stdout).contains("otherwise 10, if a selector is provided"),
        "kubectl's default --tail with a selector is no longer 10: update the stand-in"
    );
    let server = Binary::start(&[], &[]).await;
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let job: Value = serde_yaml_ng::from_str(COMPARE_JOB).unwrap();
    let spec = &job["spec"]["template"]["spec"];
    let containers = spec["initContainers"].as_sequence().unwrap().iter();
    for container in containers.chain(spec["containers"].as_sequence().unwrap()) {
        let name = container["name"].as_str().unwrap();
        let runs = (0..3).map(|index| {
            let args = job_args(container, index, &server);
            let log = std::fs::File::create(logs.join(format!("{name}-{index}.log"))).unwrap();
            let both = log.try_clone().unwrap();
            Command::new(env!("CARGO_BIN_EXE_rpc-vs-rest"))
                .args(args)
                .stdout(log)
                .stderr(both)
                .status()
        });
        for status in futures_util::future::join_all(runs).await {
            assert!(status.unwrap().success(), "a {name} shard failed: see its log");
        }
    }

    let path = stand_ins(dir.path(), Some(KUBECTL));
    let repo = env!("CARGO_MANIFEST_DIR");
    let real = real_kubectl.to_string_lossy();
    let envs = [("LOGS", logs.to_str().unwrap()), ("REPO", repo), ("REAL_KUBECTL", &real)];
    let walkthrough = block("kubectl -n rpc-vs-rest-dev scale").join("\n");
    let merged = succeeded(&bash(&walkthrough, dir.path(), &path, &envs).await, "the walkthrough");
    for cell in ["grpc", "rest-json-h1"] {
        assert!(merged.matches(cell).count() >= 2, "{cell} in both merges:\n{merged}");
    }
    let calls = std::fs::read_to_string(logs.join("kubectl-calls")).unwrap();
    assert!(calls.contains("apply -k k8s/overlays/dev"), "{calls}");
}
