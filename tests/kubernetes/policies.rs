//! Our rules for the manifests, each a function that returns what breaks it (one message per
//! finding), so that a test can show every rule reporting exactly what went missing.

use std::{collections::BTreeSet, net::SocketAddr};

use crate::cli::Cli;
use clap::Parser as _;
use serde_json::{Value, json};

// The vocabulary the rules are written in: rendered objects, pods, containers, settings.
use super::GREETER_SERVICE;
use super::manifests::*;

// ---------------------------------------------------------------------------------------------
// The policies: each returns what breaks it, one message per finding
// ---------------------------------------------------------------------------------------------

pub(crate) fn violations(docs: &[Value]) -> Vec<String> {
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
        replica_count_violations(docs),
        compare_target_violations(docs),
        sharded_job_violations(docs),
    ]
    .concat()
}

/// Servers: a startup probe, a liveness probe, and a readiness probe on gRPC health for the
/// Greeter (which turns NOT_SERVING while the server drains).
pub(crate) fn probe_violations(docs: &[Value]) -> Vec<String> {
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
pub(crate) fn resource_violations(docs: &[Value]) -> Vec<String> {
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
pub(crate) fn security_violations(docs: &[Value]) -> Vec<String> {
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

pub(crate) fn container_port<'a>(container: &'a Value, name: &str) -> Option<&'a Value> {
    let ports = container["ports"].as_array()?;
    Some(&ports.iter().find(|port| port["name"] == name)?["containerPort"])
}

/// Servers: container ports named `grpc` and `http` (what Services, probes and the network
/// policy refer to), on the ports the server is told to listen on.
pub(crate) fn port_violations(docs: &[Value]) -> Vec<String> {
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
pub(crate) fn shutdown_violations(docs: &[Value]) -> Vec<String> {
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
pub(crate) fn image_violations(docs: &[Value]) -> Vec<String> {
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
pub(crate) fn command_line_violations(docs: &[Value]) -> Vec<String> {
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
                .map(|arg| arg.as_str().map_or_else(|| arg.to_string(), str::to_owned))
                .map(|arg| expand(&arg, spec)),
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

/// A compare Job that shards its load (`--shard=$(JOB_COMPLETION_INDEX)/N`) is an Indexed Job
/// that runs all N shards at once: `completions` and `parallelism` both N.
pub(crate) fn sharded_job_violations(docs: &[Value]) -> Vec<String> {
    let mut found = Vec::new();
    for job in objects(docs, "Job") {
        let name = id(job);
        let spec = &job["spec"];
        let pod = &spec["template"]["spec"];
        let containers = ["initContainers", "containers"]
            .iter()
            .flat_map(|list| pod[*list].as_array().into_iter().flatten());
        for container in containers {
            let args = container["args"].as_array().into_iter().flatten().filter_map(Value::as_str);
            for shard in args.filter_map(|arg| arg.strip_prefix("--shard=")) {
                let Some(count) = shard.strip_prefix("$(JOB_COMPLETION_INDEX)/") else {
                    found.push(format!(
                        "{name}: --shard={shard} does not take the pod's completion index"
                    ));
                    continue;
                };
                let count: i64 = count.parse().unwrap_or(-1);
                if spec["completionMode"] != "Indexed" {
                    found.push(format!("{name}: shards its load but is not an Indexed Job"));
                }
                for field in ["completions", "parallelism"] {
                    if spec[field].as_i64() != Some(count) {
                        found
                            .push(format!("{name}: {field} is not {count}, the shards of --shard"));
                    }
                }
            }
        }
    }
    found.sort();
    found.dedup();
    found
}

/// An argument as Kubernetes passes it: `$(NAME)` replaced by the container's variable NAME
/// (a sample value for one the pod fills in, like an Indexed Job's completion index).
fn expand(arg: &str, container: &Value) -> String {
    let mut expanded = arg.to_owned();
    for var in container["env"].as_array().into_iter().flatten() {
        let name = str_at(var, "/name");
        let value = var["value"].as_str().unwrap_or("0");
        expanded = expanded.replace(&format!("$({name})"), value);
    }
    expanded
}

/// Every Service port names its application protocol (h2c for gRPC: proxies and meshes must
/// not guess HTTP/1.1), targets a port its server pods have, and some headless Service lists
/// each server pod for gRPC clients that balance per call.
pub(crate) fn service_violations(docs: &[Value]) -> Vec<String> {
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
pub(crate) fn disruption_budget_violations(docs: &[Value]) -> Vec<String> {
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
pub(crate) fn network_policy_violations(docs: &[Value]) -> Vec<String> {
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

/// An autoscaler scales a Deployment that exists.
pub(crate) fn autoscaler_violations(docs: &[Value]) -> Vec<String> {
    let mut found = Vec::new();
    for hpa in objects(docs, "HorizontalPodAutoscaler") {
        let spec = &hpa["spec"];
        let target = str_at(spec, "/scaleTargetRef/name");
        let (min, max) = (spec["minReplicas"].as_i64().unwrap_or(1), spec["maxReplicas"].as_i64());
        if max.is_none_or(|max| max < min) {
            found.push(format!("{}: maxReplicas is below minReplicas {min}", id(hpa)));
        }
        if !objects(docs, "Deployment").any(|deployment| deployment["metadata"]["name"] == target) {
            found.push(format!("{}: scales Deployment/{target}, which is not here", id(hpa)));
        }
    }
    found
}

/// No Deployment carries a replica count: `kubectl apply` sets a count the manifest carries
/// back on every apply, over `kubectl scale` and over an autoscaler. Without one, Kubernetes
/// starts one pod and later applies leave the count to whoever scales.
pub(crate) fn replica_count_violations(docs: &[Value]) -> Vec<String> {
    objects(docs, "Deployment")
        .filter_map(|deployment| {
            let replicas = deployment.pointer("/spec/replicas")?;
            Some(format!(
                "{}: sets replicas {replicas}, which every kubectl apply puts back over kubectl \
                 scale and the autoscaler",
                id(deployment)
            ))
        })
        .collect()
}

/// `compare` targets address Services that exist, on ports they have; a `dns:///` target
/// (one connection per address) addresses a headless Service, since a ClusterIP name resolves
/// to one virtual IP and would pin every call to one pod again.
pub(crate) fn compare_target_violations(docs: &[Value]) -> Vec<String> {
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
