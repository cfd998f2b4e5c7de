//! The Kubernetes manifests in `k8s/`, checked offline: no cluster, no kubeconfig. Every
//! overlay renders with `kubectl kustomize`, passes `kubernetes-validate --strict` for the
//! oldest and the newest Kubernetes we support, and keeps our own rules: probes, resource
//! limits, a locked-down security context, a grace period that outlasts the drain, pinned
//! images, settings the binary accepts, Services with an application protocol, a disruption
//! budget and a network policy. The last test removes settings from the rendered base one at
//! a time and shows each rule reporting exactly what went missing.

/// The binary's command line, read as the binary reads it: manifests' arguments must parse.
#[path = "../src/cli.rs"]
mod cli;
mod common;
#[path = "kubernetes/manifests.rs"]
mod manifests;
#[path = "kubernetes/policies.rs"]
mod policies;

use std::{
    io::Write as _,
    process::{Command, Stdio},
};

use common::tools;
use manifests::{containers, k8s_dir, objects, overlays, parse, render, replicas};
use policies::violations;
use serde_json::{Value, json};

/// 1.30: the first release whose kubelet runs the preStop `sleep` action by default (1.29's
/// schema has it, behind a feature gate that is off). 1.37: the newest schema the pinned
/// kubernetes-validate ships, which catches APIs that were removed since.
const KUBERNETES_VERSIONS: [&str; 2] = ["1.30.0", "1.37.0"];

/// What the readiness probe asks the gRPC health service about.
const GREETER_SERVICE: &str = contract::proto::greeter_server::SERVICE_NAME;

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
/// The README: dev is "one server pod" that `kubectl scale` raises to three, and applying the
/// overlay again "leaves the 3 replicas alone"; prod runs three to ten pods by its autoscaler.
/// Both hold only if no manifest carries a replica count (Kubernetes starts one pod, and
/// `kubectl apply` then leaves the count to whoever scales).
fn prod_scales_on_cpu_from_three_replicas_and_dev_runs_one() {
    let Some(kubectl) = tools::require("kubectl") else { return };
    let prod = parse(&render(&kubectl, &k8s_dir().join("overlays/prod")));
    let hpa = objects(&prod, "HorizontalPodAutoscaler").next().expect("prod has an HPA");
    assert_eq!(hpa.pointer("/spec/minReplicas"), Some(&json!(3)));
    assert_eq!(hpa.pointer("/spec/metrics/0/resource/name"), Some(&json!("cpu")));
    assert_eq!(hpa.pointer("/spec/maxReplicas"), Some(&json!(10)));
    assert_eq!(replicas(&prod, "rpc-vs-rest"), None, "prod's count is the autoscaler's");

    let dev = parse(&render(&kubectl, &k8s_dir().join("overlays/dev")));
    assert_eq!(objects(&dev, "HorizontalPodAutoscaler").count(), 0);
    assert_eq!(
        replicas(&dev, "rpc-vs-rest"),
        None,
        "a replica count in dev would undo `kubectl scale` on the next apply"
    );
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
    let cases: [(&str, Mutation, String); 14] = [
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
            "a replica count put back in the Deployment",
            |docs| object(docs, "Deployment", "rpc-vs-rest")["spec"]["replicas"] = json!(3),
            "Deployment/rpc-vs-rest: sets replicas 3, which every kubectl apply puts back over \
             kubectl scale and the autoscaler"
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
        (
            "the sharded compare Job runs one pod at a time",
            |docs| object(docs, "Job", "rpc-vs-rest-compare")["spec"]["parallelism"] = json!(1),
            "Job/rpc-vs-rest-compare: parallelism is not 3, the shards of --shard".into(),
        ),
    ];
    for (case, mutate, expected) in cases {
        let mut docs = base.clone();
        mutate(&mut docs);
        assert_eq!(violations(&docs), [expected], "case: {case}");
    }
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
