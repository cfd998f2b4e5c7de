//! A user runs `compare` under the conditions they deploy in: an emulated link (`--link`), a
//! bounded HTTP/1.1 pool (`--h1-connections`) and a new connection per call
//! (`--connect-per-call`), and sees what those conditions do to each cell. The connections the
//! server accepts are counted at its address by a relay this test owns, not by `compare`.

mod common;

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
};

use common::{TestServer, outside::json_of};
use serde_json::Value;
use tokio::{
    net::{TcpListener, TcpStream},
    process::Command,
};

/// The tests here time calls to a millisecond or measure rates: they run one at a time, so
/// that one's load is not another's latency.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn compare(args: &[&str]) -> Vec<Value> {
    let mut compare = Command::new(env!("CARGO_BIN_EXE_rpc-vs-rest"));
    compare.arg("compare").args(["--format", "json"]).args(args);
    let output = json_of(&format!("compare {args:?}"), &mut compare).await;
    let rows = output["measurements"].as_array().unwrap().clone();
    for row in &rows {
        assert_eq!(row["errors"], 0, "{} {}: {}", row["cell"], row["workload"], row["first_error"]);
    }
    rows
}

fn row<'a>(rows: &'a [Value], cell: &str) -> &'a Value {
    rows.iter().find(|row| row["cell"] == cell).unwrap_or_else(|| panic!("no {cell} row"))
}

fn ms(row: &Value, field: &str) -> f64 {
    row[field].as_f64().unwrap() / 1000.0
}

/// What the server's address accepts, counted: a plain TCP relay in front of `server`.
async fn counted(server: SocketAddr) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut upstream = TcpStream::connect(server).await.unwrap();
                let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
            });
        }
    });
    (addr.to_string(), accepted)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_40ms_round_trip_gives_every_cell_a_median_of_40_to_50_ms_at_one_in_flight() {
    let _alone = ONE_AT_A_TIME.lock().await;
    let rows = compare(&[
        "--link",
        "rtt=40ms",
        "--workloads",
        "unary,stream-10",
        "--cells",
        "grpc,rest-json-h1,rest-json-h2,rest-proto-h1,rest-proto-h2,rest-sse-h1,rest-sse-h2",
        "--concurrency",
        "1",
        "--warmup",
        "0.3",
        "--duration",
        "1",
    ])
    .await;
    assert_eq!(rows.len(), 10, "5 cells carry unary, 5 carry streams");
    // The lower bound is the link's; the upper one leaves a debug build on two busy cores
    // some room (46 ms was passed by 0.2 ms once, with a compiler running beside it).
    for row in &rows {
        let p50 = ms(row, "p50_us");
        assert!((40.0..=50.0).contains(&p50), "{} {}: p50 {p50} ms", row["cell"], row["workload"]);
    }
}

/// At 8 Mbit/s a reply direction carries 1 MB/s, and it is one line for the whole cell: 16
/// HTTP/1.1 connections together get what one HTTP/2 connection gets.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_links_rate_is_shared_by_all_of_a_cells_connections() {
    let _alone = ONE_AT_A_TIME.lock().await;
    let rows = compare(&[
        "--link",
        "rate=8mbit",
        "--workloads",
        "batch-1000",
        "--cells",
        "grpc,rest-json-h1,rest-json-h2",
        "--concurrency",
        "16",
        "--warmup",
        "0.5",
        "--duration",
        "2",
    ])
    .await;
    let received = |cell: &str| {
        let row = row(&rows, cell);
        row["response_bytes_per_call"].as_f64().unwrap()
            * row["requests_per_second"].as_f64().unwrap()
    };
    for cell in ["grpc", "rest-json-h1", "rest-json-h2"] {
        let rate = received(cell);
        assert!((900_000.0..=1_100_000.0).contains(&rate), "{cell}: {rate:.0} B/s received");
    }
    assert_eq!(row(&rows, "rest-json-h1")["connections"], 16);
    assert_eq!(row(&rows, "rest-json-h2")["connections"], 1);
    let (h1, h2) = (received("rest-json-h1"), received("rest-json-h2"));
    assert!((h1 / h2 - 1.0).abs() < 0.1, "16 HTTP/1.1 connections {h1:.0} B/s, one HTTP/2 {h2:.0}");
}

/// Sixteen calls in flight over a pool of two HTTP/1.1 connections: the server accepts two,
/// and each call waits its turn, which a 20 ms round trip makes plain.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pool_of_two_http1_connections_makes_sixteen_calls_queue() {
    let _alone = ONE_AT_A_TIME.lock().await;
    let server = TestServer::spawn().await;
    let (rest, accepted) = counted(server.rest_addr).await;
    let grpc = server.grpc_addr.to_string();
    let rows = compare(&[
        "--grpc-target",
        &grpc,
        "--rest-target",
        &rest,
        "--link",
        "rtt=20ms",
        "--h1-connections",
        "2",
        "--cells",
        "rest-json-h1",
        "--workloads",
        "unary",
        "--concurrency",
        "16",
        "--warmup",
        "0.3",
        "--duration",
        "1",
    ])
    .await;
    let pooled = row(&rows, "rest-json-h1");
    assert_eq!(accepted.load(Ordering::SeqCst), 2, "the server accepted the pool's 2");
    assert_eq!(pooled["connections"], 2);
    // Eight calls per connection: a call waits for about seven before it.
    let p50 = ms(pooled, "p50_us");
    assert!(p50 > 4.0 * 20.0, "p50 {p50} ms: the calls did not queue for the two connections");
}

/// `--connect-per-call`: the server accepts one TCP connection per call, on HTTP/1.1 and on
/// HTTP/2 alike.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_connection_per_call_is_one_accepted_connection_per_call() {
    let _alone = ONE_AT_A_TIME.lock().await;
    let server = TestServer::spawn().await;
    for cell in ["grpc", "rest-json-h1", "rest-proto-h2"] {
        let (grpc, grpc_accepted) = counted(server.grpc_addr).await;
        let (rest, rest_accepted) = counted(server.rest_addr).await;
        let rows = compare(&[
            "--grpc-target",
            &grpc,
            "--rest-target",
            &rest,
            "--connect-per-call",
            "--cells",
            cell,
            "--workloads",
            "unary",
            "--concurrency",
            "4",
            "--warmup",
            "0",
            "--duration",
            "0.5",
        ])
        .await;
        let calls = row(&rows, cell)["calls"].as_u64().unwrap() as usize;
        assert!(calls > 10, "{cell}: {calls} calls");
        let accepted = grpc_accepted.load(Ordering::SeqCst) + rest_accepted.load(Ordering::SeqCst);
        assert_eq!(accepted, calls, "{cell}: connections accepted vs calls");
    }
}

/// A connection per call over TLS pays a handshake per call: a full one (the server's
/// certificate on the wire every time) with `--tls-resumption off`, a resumed one (no
/// certificate) by default, as rustls and most clients resume.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_per_call_over_tls_resumes_its_session_unless_told_not_to() {
    let _alone = ONE_AT_A_TIME.lock().await;
    let received = |resumption: &'static str| async move {
        let rows = compare(&[
            "--tls",
            "--tls-resumption",
            resumption,
            "--connect-per-call",
            "--cells",
            "grpc,rest-json-h1",
            "--workloads",
            "unary",
            "--concurrency",
            "2",
            "--warmup",
            "0.2",
            "--duration",
            "0.5",
        ])
        .await;
        ["grpc", "rest-json-h1"]
            .map(|cell| row(&rows, cell)["response_bytes_per_call"].as_f64().unwrap())
    };
    let resumed = received("on").await;
    let full = received("off").await;
    for (i, cell) in ["grpc", "rest-json-h1"].into_iter().enumerate() {
        // The certificate compare's server makes is a few hundred bytes of DER.
        assert!(
            full[i] > resumed[i] + 200.0,
            "{cell}: {} bytes received per call with full handshakes, {} resumed",
            full[i],
            resumed[i]
        );
    }
}

#[tokio::test]
async fn conditions_the_lean_client_cannot_meet_are_refused_by_name() {
    for (args, message) in [
        (&["--connect-per-call", "--workloads", "stream-10"][..], "not stream-10"),
        (&["--h1-connections", "2", "--workloads", "chat-10"][..], "not chat-10"),
        (&["--h1-connections", "0"][..], "at least 1"),
        (&["--link", "rtt=40"][..], "needs a unit"),
        (&["--link", "moon"][..], "unknown link"),
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_rpc-vs-rest"))
            .arg("compare")
            .args(args)
            .output()
            .await
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{args:?} ran");
        assert!(stderr.contains(message), "{args:?}: {stderr}");
    }
}

/// At a 100 ms round trip, a batch of 10,000 names (about 120 KB up, 200 KB down over gRPC)
/// moves a window per round trip: with HTTP/2's initial 64 KiB windows it takes several round
/// trips, with 1 MiB one. Set on both ends by `compare`, and on the server alone by `serve`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_64_kib_window_caps_a_large_message_at_a_long_round_trip() {
    let _alone = ONE_AT_A_TIME.lock().await;
    let batch = |extra: &'static [&'static str], target: Option<(String, String)>| async move {
        let mut args = vec![
            "--link",
            "rtt=100ms",
            "--workloads",
            "batch-10000",
            "--cells",
            "grpc",
            "--concurrency",
            "1",
            "--warmup",
            "0.3",
            "--duration",
            "1.5",
        ];
        args.extend(extra);
        let target_args;
        if let Some((grpc, rest)) = &target {
            target_args = [
                "--grpc-target".to_owned(),
                grpc.clone(),
                "--rest-target".to_owned(),
                rest.clone(),
            ];
            args.extend(target_args.iter().map(String::as_str));
        }
        ms(row(&compare(&args).await, "grpc"), "p50_us")
    };
    let wide = batch(&[], None).await;
    let narrow = batch(&["--http2-stream-window", "65535"], None).await;
    // Lower bounds set by the link, which a slow (debug, shared) machine can only raise, and
    // the ratio: how long one round trip with wide windows takes depends on the CPU too.
    assert!(narrow > 400.0, "64 KiB windows both ends take 4 round trips or more: {narrow} ms");
    assert!(narrow > 2.0 * wide, "64 KiB windows both ends: p50 {narrow} ms vs {wide} ms");

    let server = common::binary::Binary::start(&["--http2-stream-window", "65535"], &[]).await;
    let target = (server.grpc_addr.to_string(), server.rest_addr.to_string());
    let narrow_server = batch(&[], Some(target)).await;
    // At least a round trip and a half, and more than the wide case by a margin that CPU
    // noise, which slows both alike, does not make up (the request waits for a window update
    // to cross the link: up to a round trip more).
    assert!(
        narrow_server > 150.0 && narrow_server > wide + 40.0,
        "a server started with a 64 KiB window makes the request wait: {narrow_server} ms vs {wide}"
    );
}

/// Every cell over TLS: against the server compare starts (a certificate made at start), and
/// against a target whose certificate chains to a CA file. TLS records add bytes on the wire.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_cell_runs_over_tls_against_its_own_server_and_a_target_with_a_ca_file() {
    let _alone = ONE_AT_A_TIME.lock().await;
    let shape = ["--workloads", "unary,stream-5,chat-2", "--concurrency", "2"];
    let timing = ["--warmup", "0.2", "--duration", "0.5"];
    let own = compare(&[&shape[..], &timing, &["--tls"]].concat()).await;
    assert_eq!(
        own.len(),
        21,
        "9 unary cells and 9 stream cells (gRPC, REST, Connect), 3 chat cells"
    );
    let plain = compare(&[&shape[..], &timing, &["--cells", "rest-json-h1"]].concat()).await;
    let request_bytes = |rows: &[Value]| {
        let row = rows.iter().find(|r| r["cell"] == "rest-json-h1" && r["workload"] == "unary");
        row.unwrap()["request_bytes_per_call"].as_f64().unwrap()
    };
    assert!(request_bytes(&own) > request_bytes(&plain) + 16.0, "TLS records cost bytes");

    // A target with a certificate from a CA of its own.
    let ca = rcgen::CertifiedIssuer::self_signed(
        {
            let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
            params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
            params
        },
        rcgen::KeyPair::generate().unwrap(),
    )
    .unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".into()])
        .unwrap()
        .signed_by(&key, &ca)
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).to_string_lossy().into_owned();
    std::fs::write(path("ca.pem"), ca.pem()).unwrap();
    std::fs::write(path("cert.pem"), cert.pem()).unwrap();
    std::fs::write(path("key.pem"), key.serialize_pem()).unwrap();
    let (cert_file, key_file) = (path("cert.pem"), path("key.pem"));
    let server =
        common::binary::Binary::start(&["--tls-cert", &cert_file, "--tls-key", &key_file], &[])
            .await;
    let (grpc, rest, ca_file) =
        (server.grpc_addr.to_string(), server.rest_addr.to_string(), path("ca.pem"));
    let targets = [
        "--grpc-target",
        &grpc,
        "--rest-target",
        &rest,
        "--tls",
        "--tls-ca",
        &ca_file,
        "--tls-server-name",
        "localhost",
    ];
    let remote = compare(&[&shape[..], &timing, &targets].concat()).await;
    assert_eq!(remote.len(), 21);
}

/// A TLS server for `localhost` that offers `alpn` (none: it takes no part in ALPN, as a
/// server that only speaks HTTP/1.1 may), and the PEM of its certificate.
async fn tls_server(alpn: &[&[u8]]) -> (String, String) {
    let key = rcgen::KeyPair::generate().unwrap();
    let cert =
        rcgen::CertificateParams::new(vec!["localhost".into()]).unwrap().self_signed(&key).unwrap();
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        vec![cert.der().clone()],
        rustls::pki_types::PrivateKeyDer::try_from(key.serialize_der()).unwrap(),
    )
    .unwrap();
    config.alpn_protocols = alpn.iter().map(|protocol| protocol.to_vec()).collect();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                if let Ok(mut tls) = acceptor.accept(socket).await {
                    let _ = tokio::io::AsyncReadExt::read(&mut tls, &mut [0; 1024]).await;
                }
            });
        }
    });
    (addr, cert.pem())
}

/// An HTTP/2 cell whose server does not agree to `h2` by ALPN fails, saying so, rather than
/// measuring HTTP/1.1 under an HTTP/2 cell's name: a server without ALPN (which speaks
/// HTTP/1.1) is refused by compare, one offering only `http/1.1` refuses the handshake.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http2_cell_without_h2_from_alpn_is_an_error() {
    let _alone = ONE_AT_A_TIME.lock().await;
    for (alpn, message) in [
        (&[][..], "the server chose nothing by ALPN where this cell asked for h2"),
        (&[&b"http/1.1"[..]][..], "NoApplicationProtocol"),
    ] {
        let (addr, cert) = tls_server(alpn).await;
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, cert).unwrap();
        let output = Command::new(env!("CARGO_BIN_EXE_rpc-vs-rest"))
            .args(["compare", "--grpc-target", &addr, "--rest-target", &addr, "--tls"])
            .arg("--tls-ca")
            .arg(&ca)
            .args(["--tls-server-name", "localhost", "--cells", "grpc", "--workloads", "unary"])
            .output()
            .await
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "compare measured a server without h2 as gRPC");
        assert!(stderr.contains(message), "{message}: {stderr}");
    }
}

/// Several links in one run: each measurement names its link, and the verdicts say which cell
/// wins under each and whether the winner changes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_run_over_several_links_compares_them_in_its_verdicts() {
    let _alone = ONE_AT_A_TIME.lock().await;
    let output = Command::new(env!("CARGO_BIN_EXE_rpc-vs-rest"))
        .args(["compare", "--link", "loopback;rtt=20ms", "--cells", "grpc,rest-json-h1"])
        .args([
            "--workloads",
            "unary",
            "--concurrency",
            "1",
            "--warmup",
            "0.2",
            "--duration",
            "0.5",
        ])
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let header = stdout.lines().next().unwrap();
    assert!(header.split_whitespace().last() == Some("link"), "{header}");
    assert!(stdout.lines().any(|l| l.starts_with("grpc ") && l.ends_with(" loopback")), "{stdout}");
    assert!(stdout.contains("unary @ rtt=20ms,rate=unlimited:"), "{stdout}");
    assert!(stdout.contains("across conditions:"), "{stdout}");
    assert!(stdout.contains("unary at 1 in flight, fastest under loopback: "), "{stdout}");
    assert!(stdout.contains("; rtt=20ms,rate=unlimited: "), "{stdout}");
}
