//! Servers that come and go under load (`compare --churn`), as pods do in a cluster: a
//! scale-up, a rolling restart and a crash, each while one cell's calls go on at a fixed rate,
//! with the report's figures checked against what the servers themselves said (every reply
//! names its server in `x-served-by`).

mod common;

use common::compare_runs;
use serde_json::Value;

/// A churn run of `cell` at 2,000 calls a second for `seconds`, through nginx in front of
/// `servers` servers: whether compare succeeded, its one row, and its stderr.
async fn churn_run(
    cell: &str,
    servers: &str,
    churn: &str,
    seconds: &str,
    extra: &[&str],
) -> (bool, Value, String) {
    churn_through("nginx", cell, servers, churn, seconds, extra).await
}

/// As [`churn_run`], through `via` (`nginx`; `envoy`, its endpoints from files it watches;
/// `tcp`: HAProxy in TCP mode, per connection; or `client`: no proxy, the clients spread their
/// calls over the servers themselves, from the list compare keeps of them); a null row when the
/// proxy is not installed (a failure under CI=true).
async fn churn_through(
    via: &str,
    cell: &str,
    servers: &str,
    churn: &str,
    seconds: &str,
    extra: &[&str],
) -> (bool, Value, String) {
    let tool = match via {
        "client" => Some(std::path::PathBuf::new()),
        "tcp" => common::tools::system_tool("haproxy"),
        "envoy" => common::tools::require("envoy"),
        _ => common::tools::nginx(),
    };
    let Some(tool) = tool else {
        return (true, Value::Null, String::new());
    };
    let tool = tool.to_string_lossy().into_owned();
    let mut args = vec!["--servers", servers];
    if via != "client" {
        args.extend(["--via", via]);
    }
    args.extend([
        "--cells",
        cell,
        "--workloads",
        "unary",
        "--concurrency",
        "16",
        "--rate",
        "2000",
        "--warmup",
        "0.5",
        "--duration",
        seconds,
        "--churn",
        churn,
        "--format",
        "json",
    ]);
    args.extend_from_slice(extra);
    if via == "envoy" {
        args.extend(["--envoy", &tool]);
    }
    let (ok, stdout, stderr) = compare_runs::run(&args).await;
    let row = compare_runs::report(&stdout)["measurements"][0].clone();
    (ok, row, stderr)
}

/// The calls each server answered over the whole run, from the timeline.
fn answered_by(row: &Value, server: &str) -> u64 {
    row["churn"]["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|second| second["servers"][server].as_u64().unwrap_or(0))
        .sum()
}

#[tokio::test]
async fn after_a_scale_up_behind_nginx_the_new_server_takes_its_share_within_2_s() {
    for cell in ["grpc", "rest-json-h1"] {
        let (ok, row, stderr) = churn_run(cell, "2", "scale:2->3@2s", "6", &[]).await;
        if row.is_null() {
            return;
        }
        assert!(ok, "{cell}: {stderr}");
        assert_eq!(row["errors"], 0, "{cell}: {row}");
        let event = &row["churn"]["events"][0];
        assert_eq!(event["servers_after"], serde_json::json!(["server-1", "server-2", "server-3"]));
        // Per request behind an L7 proxy: fair at once, or within the 2 s the issue allows.
        let fair = event["fair_share_after_s"].as_f64().unwrap_or(f64::INFINITY);
        assert!(fair <= 2.0, "{cell}: fair share after {fair} s: {event}");
        // The new server answered calls only after it joined, and a third of them thereafter.
        let timeline = row["churn"]["timeline"].as_array().unwrap();
        assert!(
            timeline[..2].iter().all(|second| second["servers"]["server-3"].is_null()),
            "{row}"
        );
        let third = answered_by(&row, "server-3") as f64;
        let total = row["calls"].as_u64().unwrap() as f64;
        assert!(third > total / 3.0 * 0.5, "{cell}: server-3 answered {third} of {total}");
        // Every call the timeline counts is one the measurement counts.
        let counted: u64 =
            ["server-1", "server-2", "server-3"].iter().map(|s| answered_by(&row, s)).sum();
        assert_eq!(counted, row["calls"].as_u64().unwrap(), "{cell}: {row}");
    }
}

#[tokio::test]
async fn a_rolling_restart_behind_nginx_loses_no_call_with_a_pre_stop_and_calls_without_one() {
    let (ok, row, stderr) =
        churn_run("rest-json-h1", "3", "rolling@1s", "5", &["--churn-pre-stop", "2s"]).await;
    if row.is_null() {
        return;
    }
    assert!(ok, "{stderr}");
    assert_eq!(row["errors"], 0, "{row}");
    let event = &row["churn"]["events"][0];
    assert_eq!(event["servers_after"], serde_json::json!(["server-4", "server-5", "server-6"]));
    // The old servers answered nothing once their replacements had taken over for good.
    let timeline = row["churn"]["timeline"].as_array().unwrap();
    for second in &timeline[3..] {
        for old in ["server-1", "server-2", "server-3"] {
            assert!(second["servers"][old].is_null(), "{old} still answered: {second}");
        }
    }
    // Without the preStop, the old servers get SIGTERM as they leave, while nginx's old
    // workers still send them calls: the drain refuses those (503).
    let (ok, row, stderr) =
        churn_run("rest-json-h1", "3", "rolling@1s", "4", &["--churn-pre-stop", "0"]).await;
    assert!(!ok, "a rolling restart without a preStop lost nothing: {row}");
    assert!(row["errors_by_kind"]["REST 503"]["calls"].as_u64().unwrap() > 0, "{stderr}");
    assert_eq!(row["churn"]["events"][0]["failed"], row["errors"], "{row}");
}

#[tokio::test]
async fn a_killed_server_costs_at_most_the_calls_in_flight() {
    let (_, row, stderr) = churn_run("grpc", "3", "kill:2@1.5s", "6", &[]).await;
    if row.is_null() {
        return;
    }
    let event = &row["churn"]["events"][0];
    assert_eq!(event["servers_after"], serde_json::json!(["server-1", "server-3"]), "{stderr}");
    // 16 calls in flight over three servers: the killed one held at most 16.
    let failed = row["errors"].as_u64().unwrap();
    assert!(failed <= 16, "{failed} calls lost: {row}\n{stderr}");
    assert_eq!(event["failed"], row["errors"], "{row}");
    // From the second after the kill, the others answer everything.
    let timeline = row["churn"]["timeline"].as_array().unwrap();
    for second in &timeline[2..] {
        assert!(second["servers"]["server-2"].is_null(), "the killed server answered: {second}");
        assert_eq!(second["failed"], 0, "{second}");
    }
    let fair = event["fair_share_after_s"].as_f64().unwrap_or(f64::INFINITY);
    assert!(fair <= 2.0, "fair share after {fair} s: {event}");
}

#[tokio::test]
async fn behind_a_per_connection_balancer_grpc_reaches_a_new_server_only_when_connections_are_recycled()
 {
    // Without a maximum age, gRPC's one connection stays on the server it was given.
    let (ok, row, stderr) = churn_through("tcp", "grpc", "2", "scale:2->3@1s", "4", &[]).await;
    if row.is_null() {
        return;
    }
    assert!(ok, "{stderr}");
    assert_eq!(row["errors"], 0, "{row}");
    assert_eq!(
        answered_by(&row, "server-3"),
        0,
        "a new server got calls without a reconnect: {row}"
    );
    let servers: Vec<&str> = ["server-1", "server-2"]
        .into_iter()
        .filter(|server| answered_by(&row, server) > 0)
        .collect();
    assert_eq!(servers.len(), 1, "one connection, one server: {row}");
    // With servers that close their connections at 0.5 s, the client reconnects, each time
    // to a server picked at random: the new one among them (four connections, each replaced
    // about ten times: the chance that none lands on it is (2/3)^40), and no call lost.
    let extra = ["--server-max-connection-age", "0.5s", "--connections", "4"];
    let (ok, row, stderr) = churn_through("tcp", "grpc", "2", "scale:2->3@1s", "6", &extra).await;
    assert!(ok, "{stderr}");
    assert_eq!(row["errors"], 0, "{row}");
    let share = row["churn"]["events"][0]["shares_after"]["server-3"].as_f64().unwrap_or(0.0);
    assert!(share > 0.0, "the new server never got the connection in 5 s: {row}");
}

#[tokio::test]
async fn behind_a_per_connection_balancer_a_killed_server_costs_at_most_the_calls_in_flight() {
    let (_, row, stderr) = churn_through("tcp", "rest-json-h1", "3", "kill:1@1s", "3", &[]).await;
    if row.is_null() {
        return;
    }
    let failed = row["errors"].as_u64().unwrap();
    assert!(failed <= 16, "{failed} calls lost: {row}\n{stderr}");
    assert_eq!(row["churn"]["events"][0]["failed"], row["errors"], "{row}");
    let timeline = row["churn"]["timeline"].as_array().unwrap();
    for second in &timeline[2..] {
        assert!(second["servers"]["server-1"].is_null(), "the killed server answered: {second}");
        assert_eq!(second["failed"], 0, "{second}");
    }
}

/// Through Envoy, whose endpoints compare changes in the files it watches: a scale-up, then a
/// rolling restart, of `cell`.
async fn behind_envoy(cell: &str) {
    {
        let churn = "scale:2->3@1s,rolling@4.5s";
        let (ok, row, stderr) = churn_through("envoy", cell, "2", churn, "9", &[]).await;
        if row.is_null() {
            return;
        }
        assert!(ok, "{cell}: {stderr}");
        assert_eq!(row["errors"], 0, "{cell}: {row}");
        let events = row["churn"]["events"].as_array().unwrap();
        assert_eq!(
            events[1]["servers_after"],
            serde_json::json!(["server-4", "server-5", "server-6"])
        );
        for event in events {
            let fair = event["fair_share_after_s"].as_f64().unwrap_or(f64::INFINITY);
            // Each has the 3 s of fair share it needs before the next event or the run's end.
            assert!(fair <= 1.0, "{cell}: fair share after {fair} s: {event}");
        }
        // Envoy read the new endpoints: the servers that left answered nothing at the end.
        let last = &row["churn"]["timeline"].as_array().unwrap()[7];
        for old in ["server-1", "server-2", "server-3"] {
            assert!(last["servers"][old].is_null(), "{cell}: {old} still answered: {last}");
        }
    }
}

#[tokio::test]
async fn behind_envoy_a_scale_up_and_a_rolling_restart_of_grpc_lose_no_call_and_rebalance_at_once()
{
    behind_envoy("grpc").await;
}

#[tokio::test]
async fn behind_envoy_a_scale_up_and_a_rolling_restart_of_rest_lose_no_call_and_rebalance_at_once()
{
    behind_envoy("rest-json-h1").await;
}

/// Without a proxy, the clients (REST's too) take the servers' addresses from the list compare
/// keeps, as from a headless Service's DNS answer: a new server gets calls from the next
/// resolution (`--resolve-every`), and its share within the period and 2 s more.
#[tokio::test]
async fn with_client_round_robin_a_new_server_gets_its_share_from_the_next_resolution() {
    for cell in ["grpc", "rest-json-h1"] {
        let extra = ["--resolve-every", "2s"];
        let (ok, row, stderr) =
            churn_through("client", cell, "2", "scale:2->3@1s", "7", &extra).await;
        assert!(ok, "{cell}: {stderr}");
        assert_eq!(row["errors"], 0, "{cell}: {row}");
        let event = &row["churn"]["events"][0];
        assert_eq!(event["servers_after"], serde_json::json!(["server-1", "server-2", "server-3"]));
        let fair = event["fair_share_after_s"].as_f64().unwrap_or(f64::INFINITY);
        assert!(fair <= 2.0 + 2.0, "{cell}: fair share after {fair} s: {event}");
        // The resolutions fall 2 s apart from the clients' start, half a second before the
        // measured run's: at 1.5 s, after the new server joined at 1 s and before 2 s.
        let timeline = row["churn"]["timeline"].as_array().unwrap();
        assert!(timeline[0]["servers"]["server-3"].is_null(), "{cell}: {row}");
        let share = event["shares_after"]["server-3"].as_f64().unwrap_or(0.0);
        assert!(share > 0.25, "{cell}: the new server held {share} after it: {event}");
    }
}

/// Without a proxy and with a resolution period longer than the run, only lost connections make
/// the clients ask again: a rolling restart (each old server's connections closed by its drain
/// after the preStop) loses no call, and a killed server costs at most the calls in flight.
#[tokio::test]
async fn with_client_round_robin_a_rolling_restart_loses_no_call_and_a_kill_only_calls_in_flight() {
    for cell in ["grpc", "rest-json-h1"] {
        let extra = ["--resolve-every", "60s", "--churn-pre-stop", "1s"];
        let (ok, row, stderr) = churn_through("client", cell, "3", "rolling@1s", "5", &extra).await;
        assert!(ok, "{cell}: {stderr}");
        assert_eq!(row["errors"], 0, "{cell}: {row}");
        let event = &row["churn"]["events"][0];
        assert_eq!(event["servers_after"], serde_json::json!(["server-4", "server-5", "server-6"]));
        // The old servers kept their calls through the preStop, and none after their drain.
        let timeline = row["churn"]["timeline"].as_array().unwrap();
        assert!(answered_by(&row, "server-1") > 0, "{cell}: {row}");
        for second in &timeline[3..] {
            for old in ["server-1", "server-2", "server-3"] {
                assert!(second["servers"][old].is_null(), "{cell}: {old} still answered: {second}");
            }
        }

        let (_, row, stderr) = churn_through("client", cell, "3", "kill:2@1s", "4", &extra).await;
        let failed = row["errors"].as_u64().unwrap();
        assert!(failed <= 16, "{cell}: {failed} calls lost: {row}\n{stderr}");
        assert_eq!(row["churn"]["events"][0]["failed"], row["errors"], "{cell}: {row}");
        let timeline = row["churn"]["timeline"].as_array().unwrap();
        for second in &timeline[2..] {
            assert!(second["servers"]["server-2"].is_null(), "{cell}: killed, answered: {second}");
            assert_eq!(second["failed"], 0, "{cell}: {second}");
        }
    }
}

/// `--servers N` without a proxy: every cell's clients, REST's too, keep a connection to each
/// server and send each call to the next, so each server answers a third of the calls (the
/// run says how the clients learn the servers); streams, which the unary client does not
/// carry, are refused with the reason.
#[tokio::test]
async fn without_a_proxy_every_cell_spreads_its_calls_evenly_over_the_servers() {
    let (ok, stdout, stderr) = compare_runs::run(&[
        "--servers",
        "3",
        "--cells",
        "grpc,rest-json-h1,connect-proto-h2",
        "--workloads",
        "unary",
        "--concurrency",
        "6",
        "--duration",
        "0.5",
        "--warmup",
        "0.2",
        "--format",
        "json",
    ])
    .await;
    assert!(ok, "{stderr}");
    let report = compare_runs::report(&stdout);
    let balancing = &report["run"]["server"]["balanced_by_clients"];
    assert_eq!(balancing["resolve_every_seconds"], 30.0, "{balancing}");
    for row in report["measurements"].as_array().unwrap() {
        assert_eq!(row["errors"], 0, "{row}");
        let calls = row["calls"].as_f64().unwrap();
        for server in ["server-1", "server-2", "server-3"] {
            let share = row["servers"][server].as_f64().unwrap_or(0.0) / calls;
            assert!((share - 1.0 / 3.0).abs() < 0.05, "{}: {server} {share}", row["cell"]);
        }
    }
    let (ok, _, stderr) =
        compare_runs::run(&["--servers", "2", "--workloads", "stream-10", "--duration", "0.2"])
            .await;
    assert!(!ok);
    assert!(stderr.contains("unary and batch workloads, not stream-10"), "{stderr}");
}
