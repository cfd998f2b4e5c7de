//! Under loss, as the kernel's TCP meets it (`compare --link packet,…`): the server runs in a
//! network namespace compare makes, the clients in another, and every IP packet between them
//! goes through compare's link, which delays, paces and drops it. A run's rows say what the
//! link dropped and what each side's TCP sent again, and every call still succeeds: TCP turns
//! loss into latency. Needs root and /dev/net/tun (as CI has); elsewhere the tests skip.

mod common;

use common::compare_runs;
use serde_json::Value;

/// Whether this machine can make network namespaces and TUN devices; says why not otherwise
/// (a failure under CI=true).
fn can_make_namespaces() -> bool {
    let root = std::process::Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|output| output.stdout.starts_with(b"0\n"));
    if root && std::path::Path::new("/dev/net/tun").exists() {
        return true;
    }
    common::tools::missing("the packet link needs root and /dev/net/tun".into());
    false
}

fn rows(stdout: &str) -> Vec<Value> {
    compare_runs::report(stdout)["measurements"].as_array().unwrap().clone()
}

#[tokio::test]
async fn a_lossy_link_drops_packets_that_tcp_sends_again_and_every_call_still_succeeds() {
    if !can_make_namespaces() {
        return;
    }
    let (ok, stdout, stderr) = compare_runs::run(&[
        "--link",
        "rtt=20ms,loss=2%",
        "--cells",
        "grpc,rest-json-h1",
        "--workloads",
        "unary",
        "--concurrency",
        "16",
        "--warmup",
        "0.5",
        "--duration",
        "3",
        "--format",
        "json",
    ])
    .await;
    assert!(ok, "{stderr}");
    let report = compare_runs::report(&stdout);
    assert!(
        report["run"]["settings"]["link"].as_str().unwrap().starts_with("packet,rtt=20ms,loss=2%"),
        "{}",
        report["run"]["settings"]
    );
    for row in rows(&stdout) {
        let cell = &row["cell"];
        assert_eq!(row["errors"], 0, "{cell}: {row}");
        // Every call waits at least the round trip the link adds.
        assert!(row["p50_us"].as_u64().unwrap() >= 20_000, "{cell}: {row}");
        let link = &row["packet_link"];
        let carried = link["packets_to_server"].as_u64().unwrap()
            + link["packets_to_client"].as_u64().unwrap();
        let dropped = link["dropped_to_server"].as_u64().unwrap()
            + link["dropped_to_client"].as_u64().unwrap();
        let retransmitted = link["retransmitted_by_clients"].as_u64().unwrap()
            + link["retransmitted_by_server"].as_u64().unwrap();
        // 2 % of the packets, give or take what chance allows over a few thousand.
        let share = dropped as f64 / (carried + dropped) as f64;
        assert!((0.01..0.035).contains(&share), "{cell}: dropped {share:.3}: {link}");
        // Lost data is sent again; lost ACKs (about half the packets) mostly are not.
        assert!(retransmitted > 0 && retransmitted <= dropped * 2, "{cell}: {link}");
    }
    // The namespaces went with the run.
    let namespaces = std::process::Command::new("ip").args(["netns", "list"]).output().unwrap();
    let left = String::from_utf8_lossy(&namespaces.stdout).into_owned();
    assert!(!left.contains("rvr-"), "namespaces left behind: {left}");
}

#[tokio::test]
async fn without_loss_the_link_drops_nothing_and_a_packet_link_refuses_a_target() {
    if !can_make_namespaces() {
        return;
    }
    let (ok, stdout, stderr) = compare_runs::run(&[
        "--link",
        "packet,rtt=10ms",
        "--cells",
        "rest-json-h2",
        "--workloads",
        "unary",
        "--concurrency",
        "8",
        "--warmup",
        "0.3",
        "--duration",
        "1",
        "--format",
        "json",
    ])
    .await;
    assert!(ok, "{stderr}");
    let row = &rows(&stdout)[0];
    assert_eq!(row["errors"], 0, "{row}");
    assert_eq!(row["packet_link"]["dropped_to_server"], 0, "{row}");
    assert_eq!(row["packet_link"]["dropped_to_client"], 0, "{row}");
    assert!(row["p50_us"].as_u64().unwrap() >= 10_000, "{row}");

    let (ok, _, stderr) =
        compare_runs::run(&["--link", "loss=1%", "--rest-target", "127.0.0.1:9"]).await;
    assert!(!ok);
    assert!(stderr.contains("leave out --grpc-target, --rest-target and --via"), "{stderr}");
}
