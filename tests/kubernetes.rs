//! The Kubernetes manifests in `k8s/`, checked offline: no cluster, no kubeconfig. Every
//! overlay renders with `kubectl kustomize`, passes `kubernetes-validate --strict` for the
//! oldest and the newest Kubernetes we support, and keeps our own rules: probes, resource
//! limits, a locked-down security context, a grace period that outlasts the drain, pinned
//! images, settings the binary accepts, Services with an application protocol, a disruption
//! budget and a network policy. The last test removes settings from the rendered base one at
//! a time and shows each rule reporting exactly what went missing.

mod common;

use std::{
    collections::{BTreeMap, BTreeSet},
    io::Write as _,
    net::SocketAddr,
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

use clap::{CommandFactory as _, Parser as _};
use common::tools;
use rpc_vs_rest::cli::Cli;
use serde::Deserialize as _;
use serde_json::{Value, json};

/// 1.30: the first release whose kubelet runs the preStop `sleep` action by default (1.29's
/// schema has it, behind a feature gate that is off). 1.37: the newest schema the pinned
/// kubernetes-validate ships, which catches APIs that were removed since.
const KUBERNETES_VERSIONS: [&str; 2] = ["1.30.0", "1.37.0"];

/// What the readiness probe asks the gRPC health service about.
const GREETER_SERVICE: &str = "helloworld.Greeter";

// ---------------------------------------------------------------------------------------------
// The tests
// ---------------------------------------------------------------------------------------------

#[test]
fn every_overlay_renders_and_validates_strictly() {
    let (Some(kubectl), Some(validate)) =
        (tools::require("kubectl"), tools::require("kubernetes-validate"))
    else {
        return;
    };
    for dir in overlays().iter().chain([&k8s_dir().join("base")]) {
        let yaml = render(&kubectl, dir);
        let objects = parse(&yaml).len();
        for version in KUBERNETES_VERSIONS {
            // One run per version: kubernetes-validate reads standard input only once.
            let mut child = Command::new(&validate)
                .args(["--strict", "--kubernetes-version", version, "-"])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("run kubernetes-validate");
            child.stdin.take().unwrap().write_all(yaml.as_bytes()).unwrap();
            let output = child.wait_with_output().unwrap();
            let report = format!(
                "{}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
            let context = format!("{} against Kubernetes {version}:\n{report}", dir.display());
            assert!(output.status.success(), "kubernetes-validate failed for {context}");
            // An unknown kind or API version is only a warning to it: not to us.
            let passed = report.lines().filter(|line| line.starts_with("INFO")).count();
            assert_eq!(passed, objects, "not every object was validated in {context}");
            assert!(!report.contains("WARN"), "kubernetes-validate warned for {context}");
        }
    }
}

#[test]
fn every_overlay_keeps_our_policies() {
    let Some(kubectl) = tools::require("kubectl") else { return };
    for dir in overlays() {
        let docs = parse(&render(&kubectl, &dir));
        let found = violations(&docs);
        assert!(found.is_empty(), "{}:\n  {}", dir.display(), found.join("\n  "));
    }
}

#[test]
fn prod_scales_on_cpu_from_three_replicas_and_dev_runs_one() {
    let Some(kubectl) = tools::require("kubectl") else { return };
    let prod = parse(&render(&kubectl, &k8s_dir().join("overlays/prod")));
    let hpa = objects(&prod, "HorizontalPodAutoscaler").next().expect("prod has an HPA");
    assert_eq!(hpa.pointer("/spec/minReplicas"), Some(&json!(3)));
    assert_eq!(hpa.pointer("/spec/metrics/0/resource/name"), Some(&json!("cpu")));
    assert_eq!(replicas(&prod, "rpc-vs-rest"), Some(3));

    let dev = parse(&render(&kubectl, &k8s_dir().join("overlays/dev")));
    assert_eq!(objects(&dev, "HorizontalPodAutoscaler").count(), 0);
    assert_eq!(replicas(&dev, "rpc-vs-rest"), Some(1));
}

#[test]
fn every_overlay_deploys_the_version_this_crate_builds() {
    let Some(kubectl) = tools::require("kubectl") else { return };
    let expected = format!("rpc-vs-rest:{}", env!("CARGO_PKG_VERSION"));
    for dir in overlays() {
        for (container, spec) in containers(&parse(&render(&kubectl, &dir))) {
            // An overlay may point at a registry: only the last path segment must match.
            let image = spec["image"].as_str().unwrap_or_default();
            let repository_and_tag = image.rsplit('/').next().unwrap_or_default();
            assert_eq!(repository_and_tag, expected, "{}: {container}", dir.display());
        }
    }
}

#[test]
fn policies_catch_a_removed_probe_limit_or_security_setting() {
    let Some(kubectl) = tools::require("kubectl") else { return };
    let base = parse(&render(&kubectl, &k8s_dir().join("base")));
    let found = violations(&base);
    assert!(found.is_empty(), "the base itself breaks a rule:\n  {}", found.join("\n  "));

    type Mutation = fn(&mut [Value]);
    let server = "Deployment/rpc-vs-rest container server";
    let cases: [(&str, Mutation, String); 12] = [
        (
            "readiness probe removed",
            |docs| remove(server_container(docs), "readinessProbe"),
            format!("{server}: no readinessProbe"),
        ),
        (
            "readiness probe on HTTP instead of gRPC health",
            |docs| {
                server_container(docs)["readinessProbe"] =
                    json!({"httpGet": {"path": "/readyz", "port": "http"}});
            },
            format!("{server}: readinessProbe is not gRPC health for {GREETER_SERVICE}"),
        ),
        (
            "startup probe removed",
            |docs| remove(server_container(docs), "startupProbe"),
            format!("{server}: no startupProbe"),
        ),
        (
            "memory limit removed",
            |docs| remove(&mut server_container(docs)["resources"]["limits"], "memory"),
            format!("{server}: no memory limit"),
        ),
        (
            "root filesystem made writable",
            |docs| {
                server_container(docs)["securityContext"]["readOnlyRootFilesystem"] = json!(false)
            },
            format!("{server}: readOnlyRootFilesystem is not true"),
        ),
        (
            "the compare Job keeps its capabilities",
            |docs| {
                remove(
                    &mut pod_spec(docs, "Job")["initContainers"][0]["securityContext"],
                    "capabilities",
                )
            },
            "Job/rpc-vs-rest-compare init container pinned: capabilities do not drop ALL".into(),
        ),
        (
            "seccomp profile removed from the pod",
            |docs| remove(&mut pod_spec(docs, "Deployment")["securityContext"], "seccompProfile"),
            format!("{server}: seccompProfile is not RuntimeDefault"),
        ),
        (
            "grace period lowered below the drain",
            |docs| pod_spec(docs, "Deployment")["terminationGracePeriodSeconds"] = json!(12),
            "Deployment/rpc-vs-rest: terminationGracePeriodSeconds 12 is not more than \
             preStop sleep 5 s + RPC_VS_REST_SHUTDOWN_TIMEOUT 10 s"
                .into(),
        ),
        (
            "drain deadline raised past the grace period",
            |docs| set_env(server_container(docs), "RPC_VS_REST_SHUTDOWN_TIMEOUT", "30"),
            "Deployment/rpc-vs-rest: terminationGracePeriodSeconds 30 is not more than \
             preStop sleep 5 s + RPC_VS_REST_SHUTDOWN_TIMEOUT 30 s"
                .into(),
        ),
        (
            "image moved to :latest",
            |docs| server_container(docs)["image"] = json!("rpc-vs-rest:latest"),
            format!("{server}: image rpc-vs-rest:latest has no pinned tag"),
        ),
        (
            "appProtocol removed from the gRPC port",
            |docs| {
                remove(
                    &mut object(docs, "Service", "rpc-vs-rest")["spec"]["ports"][0],
                    "appProtocol",
                )
            },
            "Service/rpc-vs-rest port grpc: no appProtocol".into(),
        ),
        (
            "a setting the binary does not know",
            |docs| {
                let env = server_container(docs)["env"].as_array_mut().unwrap();
                env.push(json!({"name": "RPC_VS_REST_SHUTDOWN_TIMEOUTS", "value": "10"}));
            },
            format!("{server}: RPC_VS_REST_SHUTDOWN_TIMEOUTS is not a setting of rpc-vs-rest"),
        ),
    ];
    for (case, mutate, expected) in cases {
        let mut docs = base.clone();
        mutate(&mut docs);
        assert_eq!(violations(&docs), [expected], "case: {case}");
    }
}

// ---------------------------------------------------------------------------------------------
// Rendering
// ---------------------------------------------------------------------------------------------

fn k8s_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("k8s")
}

/// Every directory under k8s/overlays with a kustomization: new overlays are checked too.
fn overlays() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(k8s_dir().join("overlays"))
        .expect("k8s/overlays exists")
        .map(|entry| entry.unwrap().path())
        .filter(|dir| dir.join("kustomization.yaml").is_file())
        .collect();
    dirs.sort();
    assert!(dirs.len() >= 2, "expected the dev and prod overlays, found {dirs:?}");
    dirs
}

/// `kubectl kustomize DIR`: offline, and with no kubeconfig, so that it could not reach a
/// cluster even by mistake (kubectl's default server is localhost:8080, our REST port).
fn render(kubectl: &Path, dir: &Path) -> String {
    let output = Command::new(kubectl)
        .arg("kustomize")
        .arg(dir)
        .env("KUBECONFIG", "/dev/null")
        .env_remove("KUBERNETES_SERVICE_HOST")
        .output()
        .expect("run kubectl kustomize");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "kubectl kustomize {} failed:\n{stderr}", dir.display());
    String::from_utf8(output.stdout).unwrap()
}

fn parse(yaml: &str) -> Vec<Value> {
    serde_yaml_ng::Deserializer::from_str(yaml)
        .map(|doc| Value::deserialize(doc).expect("kustomize renders valid YAML"))
        .filter(|doc| !doc.is_null())
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Reading the rendered objects
// ---------------------------------------------------------------------------------------------

fn objects<'a>(docs: &'a [Value], kind: &'a str) -> impl Iterator<Item = &'a Value> {
    docs.iter().filter(move |doc| doc["kind"] == kind)
}

/// `Kind/name`, as kubectl prints it.
fn id(doc: &Value) -> String {
    format!("{}/{}", str_at(doc, "/kind"), str_at(doc, "/metadata/name"))
}

fn str_at<'a>(value: &'a Value, pointer: &str) -> &'a str {
    value.pointer(pointer).and_then(Value::as_str).unwrap_or_default()
}

fn replicas(docs: &[Value], deployment: &str) -> Option<i64> {
    objects(docs, "Deployment")
        .find(|doc| doc["metadata"]["name"] == deployment)
        .and_then(|doc| doc.pointer("/spec/replicas"))
        .and_then(Value::as_i64)
}

/// A workload's pod template.
#[derive(Debug)]
struct Pod<'a> {
    owner: String,
    /// A long-running server (a Deployment, StatefulSet or DaemonSet), not a run-to-completion
    /// Job: servers need probes, ports and a drain.
    serves: bool,
    labels: &'a Value,
    spec: &'a Value,
}

fn pods(docs: &[Value]) -> Vec<Pod<'_>> {
    docs.iter()
        .filter_map(|doc| {
            let template = match doc["kind"].as_str()? {
                "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet" | "Job" => {
                    doc.pointer("/spec/template")?
                }
                "CronJob" => doc.pointer("/spec/jobTemplate/spec/template")?,
                _ => return None,
            };
            Some(Pod {
                owner: id(doc),
                serves: !matches!(doc["kind"].as_str(), Some("Job" | "CronJob")),
                labels: &template["metadata"]["labels"],
                spec: &template["spec"],
            })
        })
        .collect()
}

/// Every container and init container, named for messages: `Job/x init container y`.
fn pod_containers<'a>(pod: &Pod<'a>) -> Vec<(String, &'a Value)> {
    let mut found = Vec::new();
    for (field, what) in [("initContainers", "init container"), ("containers", "container")] {
        for container in pod.spec[field].as_array().into_iter().flatten() {
            let name = str_at(container, "/name");
            found.push((format!("{} {what} {name}", pod.owner), container));
        }
    }
    found
}

fn containers(docs: &[Value]) -> Vec<(String, &Value)> {
    pods(docs).iter().flat_map(pod_containers).collect()
}

/// A server's long-running containers (its init containers run to completion).
fn server_containers<'a>(pod: &Pod<'a>) -> Vec<(String, &'a Value)> {
    pod_containers(pod).into_iter().filter(|(name, _)| !name.contains(" init container ")).collect()
}

/// The container's `env` value of `name`, if it is set as a plain value.
fn env_value<'a>(container: &'a Value, name: &str) -> Option<&'a str> {
    container["env"].as_array()?.iter().find(|var| var["name"] == name)?["value"].as_str()
}

/// Whether every `key: value` of `selector` is among `labels`.
fn selects(selector: &Value, labels: &Value) -> bool {
    selector.as_object().is_some_and(|selector| {
        !selector.is_empty() && selector.iter().all(|(key, value)| labels.get(key) == Some(value))
    })
}

// ---------------------------------------------------------------------------------------------
// What the binary accepts, read from its own command line definition
// ---------------------------------------------------------------------------------------------

/// Every environment variable the binary reads, with the flag it stands for and its default.
fn settings() -> BTreeMap<String, (String, Option<String>)> {
    fn collect(command: &clap::Command, into: &mut BTreeMap<String, (String, Option<String>)>) {
        for arg in command.get_arguments() {
            if let (Some(env), Some(long)) = (arg.get_env(), arg.get_long()) {
                let default = arg.get_default_values().first();
                let default = default.map(|value| value.to_string_lossy().into_owned());
                into.insert(env.to_string_lossy().into_owned(), (long.to_owned(), default));
            }
        }
        for subcommand in command.get_subcommands() {
            collect(subcommand, into);
        }
    }
    let mut settings = BTreeMap::new();
    collect(&Cli::command(), &mut settings);
    settings
}

/// The value a server container gives a setting: its env value, else the binary's default.
fn setting(container: &Value, env: &str) -> Option<String> {
    env_value(container, env)
        .map(str::to_owned)
        .or_else(|| settings().get(env).and_then(|(_, default)| default.clone()))
}

// ---------------------------------------------------------------------------------------------
// The policies: each returns what breaks it, one message per finding
// ---------------------------------------------------------------------------------------------

fn violations(docs: &[Value]) -> Vec<String> {
    [
        probe_violations(docs),
        resource_violations(docs),
        security_violations(docs),
        port_violations(docs),
        shutdown_violations(docs),
        image_violations(docs),
        command_line_violations(docs),
        service_violations(docs),
        disruption_budget_violations(docs),
        network_policy_violations(docs),
        autoscaler_violations(docs),
        compare_target_violations(docs),
    ]
    .concat()
}

/// Servers: a startup probe, a liveness probe, and a readiness probe on gRPC health for the
/// Greeter (which turns NOT_SERVING while the server drains).
fn probe_violations(docs: &[Value]) -> Vec<String> {
    let mut found = Vec::new();
    for pod in pods(docs).iter().filter(|pod| pod.serves) {
        for (container, spec) in server_containers(pod) {
            for probe in ["startupProbe", "livenessProbe", "readinessProbe"] {
                if spec.get(probe).is_none() {
                    found.push(format!("{container}: no {probe}"));
                }
            }
            let readiness = &spec["readinessProbe"]["grpc"];
            if spec.get("readinessProbe").is_some() && readiness["service"] != GREETER_SERVICE {
                found.push(format!(
                    "{container}: readinessProbe is not gRPC health for {GREETER_SERVICE}"
                ));
            } else if let Some(port) = readiness.get("port") {
                if Some(port) != container_port(spec, "grpc") {
                    found.push(format!("{container}: readinessProbe asks port {port}, not grpc"));
                }
            }
        }
    }
    found
}

/// Every container: CPU and memory requests (what the scheduler and the HPA count) and a
/// memory limit (what keeps a leak from starving the node).
fn resource_violations(docs: &[Value]) -> Vec<String> {
    let mut found = Vec::new();
    for (container, spec) in containers(docs) {
        let resources = &spec["resources"];
        for (pointer, what) in [
            ("/requests/cpu", "cpu request"),
            ("/requests/memory", "memory request"),
            ("/limits/memory", "memory limit"),
        ] {
            if resources.pointer(pointer).is_none() {
                found.push(format!("{container}: no {what}"));
            }
        }
    }
    found
}

/// Every pod and container meets the restricted Pod Security Standard and more: non-root, a
/// read-only root filesystem, no privilege escalation, no capabilities, RuntimeDefault
/// seccomp, no service account token and no Service-link variables.
fn security_violations(docs: &[Value]) -> Vec<String> {
    let mut found = Vec::new();
    for pod in pods(docs) {
        let pod_context = &pod.spec["securityContext"];
        for (field, expected) in
            [("automountServiceAccountToken", false), ("enableServiceLinks", false)]
        {
            if pod.spec[field] != expected {
                found.push(format!("{}: {field} is not {expected}", pod.owner));
            }
        }
        for field in ["hostNetwork", "hostPID", "hostIPC"] {
            if pod.spec[field] == true {
                found.push(format!("{}: {field} is true", pod.owner));
            }
        }
        for (container, spec) in pod_containers(&pod) {
            let context = &spec["securityContext"];
            // A container's own setting wins over the pod's.
            let effective = |field: &str| match context.get(field) {
                Some(value) => value,
                None => &pod_context[field],
            };
            if effective("runAsNonRoot") != true {
                found.push(format!("{container}: runAsNonRoot is not true"));
            }
            if effective("runAsUser") == 0 {
                found.push(format!("{container}: runAsUser is 0"));
            }
            if effective("seccompProfile")["type"] != "RuntimeDefault" {
                found.push(format!("{container}: seccompProfile is not RuntimeDefault"));
            }
            if context["readOnlyRootFilesystem"] != true {
                found.push(format!("{container}: readOnlyRootFilesystem is not true"));
            }
            if context["allowPrivilegeEscalation"] != false {
                found.push(format!("{container}: allowPrivilegeEscalation is not false"));
            }
            if context["privileged"] == true {
                found.push(format!("{container}: privileged is true"));
            }
            let capabilities = &context["capabilities"];
            if !capabilities["drop"].as_array().is_some_and(|drop| drop.contains(&json!("ALL"))) {
                found.push(format!("{container}: capabilities do not drop ALL"));
            }
            if capabilities["add"].as_array().is_some_and(|add| !add.is_empty()) {
                found.push(format!("{container}: capabilities add {}", capabilities["add"]));
            }
        }
    }
    found
}

fn container_port<'a>(container: &'a Value, name: &str) -> Option<&'a Value> {
    let ports = container["ports"].as_array()?;
    Some(&ports.iter().find(|port| port["name"] == name)?["containerPort"])
}

/// Servers: container ports named `grpc` and `http` (what Services, probes and the network
/// policy refer to), on the ports the server is told to listen on.
fn port_violations(docs: &[Value]) -> Vec<String> {
    let mut found = Vec::new();
    for pod in pods(docs).iter().filter(|pod| pod.serves) {
        for (container, spec) in server_containers(pod) {
            for (name, env) in
                [("grpc", "RPC_VS_REST_GRPC_ADDR"), ("http", "RPC_VS_REST_REST_ADDR")]
            {
                let Some(port) = container_port(spec, name) else {
                    found.push(format!("{container}: no container port named {name}"));
                    continue;
                };
                let listens = setting(spec, env).and_then(|addr| addr.parse::<SocketAddr>().ok());
                if let Some(listens) = listens.filter(|addr| *port != addr.port()) {
                    found.push(format!(
                        "{container}: port {name} is {port} but {env} listens on {listens}"
                    ));
                }
            }
        }
    }
    found
}

/// Servers: a preStop sleep (so endpoint removal propagates before the drain starts), and a
/// grace period longer than that sleep plus the server's drain deadline (or SIGKILL cuts the
/// calls the drain would have finished).
fn shutdown_violations(docs: &[Value]) -> Vec<String> {
    let mut found = Vec::new();
    for pod in pods(docs).iter().filter(|pod| pod.serves) {
        // Kubernetes' default grace period.
        let grace = pod.spec["terminationGracePeriodSeconds"].as_i64().unwrap_or(30);
        for (container, spec) in server_containers(pod) {
            let Some(sleep) =
                spec.pointer("/lifecycle/preStop/sleep/seconds").and_then(Value::as_i64)
            else {
                found.push(format!("{container}: no preStop sleep"));
                continue;
            };
            let env = "RPC_VS_REST_SHUTDOWN_TIMEOUT";
            let Some(drain) = setting(spec, env).and_then(|seconds| seconds.parse::<i64>().ok())
            else {
                found.push(format!("{container}: {env} is not a number of seconds"));
                continue;
            };
            if grace <= sleep + drain {
                found.push(format!(
                    "{}: terminationGracePeriodSeconds {grace} is not more than preStop sleep \
                     {sleep} s + {env} {drain} s",
                    pod.owner
                ));
            }
        }
    }
    found
}

/// Every image carries a tag other than `latest` (or a digest): a rollout is a tag change, and
/// every node runs the same build.
fn image_violations(docs: &[Value]) -> Vec<String> {
    let mut found = Vec::new();
    for (container, spec) in containers(docs) {
        let image = str_at(spec, "/image");
        if image.contains("@sha256:") {
            continue;
        }
        // The tag follows the last ':' after the last '/' (a registry may have a port).
        let tag =
            image.rsplit('/').next().and_then(|last| last.split_once(':')).map(|(_, tag)| tag);
        if tag.is_none_or(|tag| tag.is_empty() || tag == "latest") {
            found.push(format!("{container}: image {image} has no pinned tag"));
        }
    }
    found
}

/// Every container's arguments and `RPC_VS_REST_*` environment parse as the binary's command
/// line: no misspelt setting is silently ignored, no value is rejected at start-up. The image's
/// entrypoint is the binary itself, so a `command` would replace it.
fn command_line_violations(docs: &[Value]) -> Vec<String> {
    let settings = settings();
    let mut found = Vec::new();
    for (container, spec) in containers(docs) {
        if spec.get("command").is_some() {
            found.push(format!("{container}: command replaces the image's entrypoint"));
        }
        let mut argv = vec!["rpc-vs-rest".to_owned()];
        argv.extend(
            spec["args"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|arg| arg.as_str().map_or_else(|| arg.to_string(), str::to_owned)),
        );
        for var in spec["env"].as_array().into_iter().flatten() {
            let name = str_at(var, "/name");
            if !name.starts_with("RPC_VS_REST_") {
                continue;
            }
            let Some((long, _)) = settings.get(name) else {
                found.push(format!("{container}: {name} is not a setting of rpc-vs-rest"));
                continue;
            };
            // A value from the downward API is only known in the pod.
            let value = var["value"].as_str().unwrap_or("from-the-downward-api");
            argv.push(format!("--{long}={value}"));
        }
        if let Err(error) = Cli::try_parse_from(&argv) {
            let error = error.to_string();
            let first_line = error.lines().next().unwrap_or_default();
            found.push(format!("{container}: rpc-vs-rest rejects {argv:?}: {first_line}"));
        }
    }
    found
}

/// Every Service port names its application protocol (h2c for gRPC: proxies and meshes must
/// not guess HTTP/1.1), targets a port its server pods have, and some headless Service lists
/// each server pod for gRPC clients that balance per call.
fn service_violations(docs: &[Value]) -> Vec<String> {
    let pods = pods(docs);
    let mut found = Vec::new();
    for service in objects(docs, "Service") {
        let selected: Vec<&Pod<'_>> =
            pods.iter().filter(|pod| selects(&service["spec"]["selector"], pod.labels)).collect();
        if selected.is_empty() {
            found.push(format!("{}: selects no pods", id(service)));
        }
        for port in service["spec"]["ports"].as_array().into_iter().flatten() {
            let port_name =
                port["name"].as_str().map_or_else(|| port["port"].to_string(), str::to_owned);
            let context = format!("{} port {port_name}", id(service));
            if port.get("appProtocol").is_none() {
                found.push(format!("{context}: no appProtocol"));
            }
            let target = port.get("targetPort").unwrap_or(&port["port"]);
            let reachable = selected.iter().all(|pod| {
                pod_containers(pod).iter().any(|(_, container)| {
                    container["ports"].as_array().into_iter().flatten().any(|container_port| {
                        container_port["name"] == *target
                            || container_port["containerPort"] == *target
                    })
                })
            });
            if !reachable {
                found.push(format!("{context}: targetPort {target} is not a port of its pods"));
            }
        }
    }
    let headless_grpc = objects(docs, "Service").any(|service| {
        service["spec"]["clusterIP"] == "None"
            && service["spec"]["ports"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|port| port["name"] == "grpc")
    });
    if pods.iter().any(|pod| pod.serves) && !headless_grpc {
        found.push("no headless Service with a grpc port".into());
    }
    found
}

/// Every server has a disruption budget, and one that lets a node drain evict a pod.
fn disruption_budget_violations(docs: &[Value]) -> Vec<String> {
    let mut found = Vec::new();
    for server in objects(docs, "Deployment") {
        let labels = &server["spec"]["template"]["metadata"]["labels"];
        let replicas = server["spec"]["replicas"].as_i64().unwrap_or(1);
        let budgets: Vec<&Value> = objects(docs, "PodDisruptionBudget")
            .filter(|budget| selects(&budget["spec"]["selector"]["matchLabels"], labels))
            .collect();
        if budgets.is_empty() {
            found.push(format!("no PodDisruptionBudget covers {}", id(server)));
        }
        for budget in budgets {
            let spec = &budget["spec"];
            let blocks = spec["maxUnavailable"] == 0
                || spec["maxUnavailable"] == "0%"
                || spec["minAvailable"].as_i64().is_some_and(|min| min >= replicas)
                || spec["minAvailable"] == "100%";
            if blocks {
                found.push(format!(
                    "{}: blocks every eviction of {} (replicas: {replicas})",
                    id(budget),
                    id(server)
                ));
            }
        }
    }
    found
}

/// Every server's pods are behind a NetworkPolicy that admits their gRPC and REST ports.
fn network_policy_violations(docs: &[Value]) -> Vec<String> {
    let mut found = Vec::new();
    for pod in pods(docs).iter().filter(|pod| pod.serves) {
        let policies: Vec<&Value> = objects(docs, "NetworkPolicy")
            .filter(|policy| selects(&policy["spec"]["podSelector"]["matchLabels"], pod.labels))
            .collect();
        if policies.is_empty() {
            found.push(format!("no NetworkPolicy covers {}", pod.owner));
            continue;
        }
        let rules: Vec<&Value> = policies
            .iter()
            .flat_map(|policy| policy["spec"]["ingress"].as_array().into_iter().flatten())
            .collect();
        // A rule without ports admits every port.
        if rules.iter().any(|rule| rule.get("ports").is_none()) {
            continue;
        }
        let admitted: BTreeSet<String> = rules
            .iter()
            .flat_map(|rule| rule["ports"].as_array().into_iter().flatten())
            .map(|port| port["port"].to_string())
            .collect();
        for (container, spec) in server_containers(pod) {
            for name in ["grpc", "http"] {
                let Some(port) = container_port(spec, name) else { continue };
                if !admitted.contains(&port.to_string())
                    && !admitted.contains(&json!(name).to_string())
                {
                    found
                        .push(format!("{container}: no NetworkPolicy admits port {name} ({port})"));
                }
            }
        }
    }
    found
}

/// An autoscaler scales a Deployment that exists, and that Deployment starts at its minimum.
fn autoscaler_violations(docs: &[Value]) -> Vec<String> {
    let mut found = Vec::new();
    for hpa in objects(docs, "HorizontalPodAutoscaler") {
        let spec = &hpa["spec"];
        let target = str_at(spec, "/scaleTargetRef/name");
        let (min, max) = (spec["minReplicas"].as_i64().unwrap_or(1), spec["maxReplicas"].as_i64());
        if max.is_none_or(|max| max < min) {
            found.push(format!("{}: maxReplicas is below minReplicas {min}", id(hpa)));
        }
        match replicas(docs, target) {
            Some(replicas) if replicas == min => {}
            Some(replicas) => found.push(format!(
                "{}: Deployment/{target} starts at {replicas} replicas, not minReplicas {min}",
                id(hpa)
            )),
            None => {
                found.push(format!("{}: scales Deployment/{target}, which is not here", id(hpa)))
            }
        }
    }
    found
}

/// `compare` targets address Services that exist, on ports they have; a `dns:///` target
/// (one connection per address) addresses a headless Service, since a ClusterIP name resolves
/// to one virtual IP and would pin every call to one pod again.
fn compare_target_violations(docs: &[Value]) -> Vec<String> {
    let mut found = Vec::new();
    for (container, spec) in containers(docs) {
        let args: Vec<&str> =
            spec["args"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
        if args.first() != Some(&"compare") {
            continue;
        }
        for flag in ["--grpc-target", "--rest-target"] {
            let value = args.iter().enumerate().find_map(|(i, arg)| {
                if *arg == flag {
                    args.get(i + 1).copied()
                } else {
                    arg.strip_prefix(flag)?.strip_prefix('=')
                }
            });
            let Some(target) = value else {
                found.push(format!(
                    "{container}: compare has no {flag}: it would measure its own server"
                ));
                continue;
            };
            let every_address = target.starts_with("dns:///");
            let host_port = target.trim_start_matches("dns:///").trim_start_matches("http://");
            let host_and_port = host_port.rsplit_once(':');
            let host_and_port =
                host_and_port.and_then(|(host, port)| Some((host, port.parse::<u16>().ok()?)));
            let Some((host, port)) = host_and_port else {
                found.push(format!("{container}: {flag} {target} has no port"));
                continue;
            };
            // `name`, `name.namespace` or `name.namespace.svc.cluster.local`.
            let service_name = host.split('.').next().unwrap_or_default();
            let service = objects(docs, "Service")
                .find(|service| service["metadata"]["name"] == service_name);
            let has_port = service.is_some_and(|service| {
                service["spec"]["ports"].as_array().into_iter().flatten().any(|p| p["port"] == port)
            });
            if !has_port {
                found.push(format!("{container}: {flag} {target} names no Service port here"));
            } else if every_address
                && service.is_some_and(|service| service["spec"]["clusterIP"] != "None")
            {
                found.push(format!("{container}: {flag} {target} names a Service with a cluster IP, not a headless one"));
            }
        }
    }
    found
}

// ---------------------------------------------------------------------------------------------
// Mutations for the policy test
// ---------------------------------------------------------------------------------------------

fn object<'a>(docs: &'a mut [Value], kind: &str, name: &str) -> &'a mut Value {
    docs.iter_mut()
        .find(|doc| doc["kind"] == kind && doc["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind}/{name} in the rendered base"))
}

fn pod_spec<'a>(docs: &'a mut [Value], kind: &str) -> &'a mut Value {
    let name = if kind == "Job" { "rpc-vs-rest-compare" } else { "rpc-vs-rest" };
    &mut object(docs, kind, name)["spec"]["template"]["spec"]
}

fn server_container(docs: &mut [Value]) -> &mut Value {
    &mut pod_spec(docs, "Deployment")["containers"][0]
}

fn remove(value: &mut Value, field: &str) {
    value.as_object_mut().and_then(|object| object.remove(field)).expect("the field is there");
}

fn set_env(container: &mut Value, name: &str, value: &str) {
    let env = container["env"].as_array_mut().unwrap();
    let var = env.iter_mut().find(|var| var["name"] == name).expect("the variable is set");
    var["value"] = json!(value);
}
