//! The pod's memory limit under a flood: k8s/base/deployment.yaml gives the server
//! `limits.memory: 256Mi`, so here the real binary runs in a memory cgroup of 256 MiB (cgroup
//! v2 `memory.max`, else v1 `memory.limit_in_bytes`) and is flooded: slow uploads at the body
//! limit on both ports, compressed bombs, connections past `--max-connections`, idle HTTP/2
//! connections with open streams, WebSocket sessions. Each flood ends with the server alive,
//! never killed by the kernel, and serving a normal call on both ports; each prints its peak
//! memory (docs/security.md lists them). Without a memory cgroup to write (not root, no
//! controller) the tests skip, and fail under CI=true.

mod common;

use std::{
    io::Write as _,
    net::SocketAddr,
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};

use bytes::Bytes;
use common::{http1, http2, tools};
use contract::{facts::BoundAddresses, proto::HelloRequest};
use futures_util::StreamExt as _;
use prost::Message as _;
use tokio::{
    io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader},
    net::TcpStream,
    process::{Child, Command},
};

const LIMIT: u64 = 256 * 1024 * 1024;
const BIG: usize = 15 * 1024 * 1024;

/// A memory cgroup of its own, removed when dropped.
struct MemoryGroup {
    path: PathBuf,
    v2: bool,
}

impl MemoryGroup {
    fn create(name: &str) -> Option<Self> {
        let name = format!("rpc-vs-rest-{name}-{}", std::process::id());
        let v2_root = Path::new("/sys/fs/cgroup");
        let v2 = std::fs::read_to_string(v2_root.join("cgroup.controllers"))
            .is_ok_and(|controllers| controllers.split_whitespace().any(|c| c == "memory"));
        let (path, limit_file) = if v2 {
            // The parent must hand the memory controller down to its children.
            let _ = std::fs::write(v2_root.join("cgroup.subtree_control"), "+memory");
            (v2_root.join(&name), "memory.max")
        } else {
            (Path::new("/sys/fs/cgroup/memory").join(&name), "memory.limit_in_bytes")
        };
        let made = std::fs::create_dir_all(&path)
            .and_then(|()| std::fs::write(path.join(limit_file), LIMIT.to_string()));
        if let Err(error) = made {
            let _ = std::fs::remove_dir(&path);
            tools::missing(format!(
                "cannot make a memory cgroup of 256 MiB at {} ({error}): run as root on a \
                 machine with cgroup v2's memory controller or v1's memory hierarchy",
                path.display()
            ));
            return None;
        }
        Some(Self { path, v2 })
    }

    fn read(&self, file: &str) -> String {
        std::fs::read_to_string(self.path.join(file)).unwrap_or_default()
    }

    /// The most memory the group has used, in MiB.
    fn peak_mib(&self) -> u64 {
        let file = if self.v2 { "memory.peak" } else { "memory.max_usage_in_bytes" };
        self.read(file).trim().parse::<u64>().unwrap_or(0) / (1024 * 1024)
    }

    /// How many processes the kernel killed for the group's limit.
    fn oom_kills(&self) -> u64 {
        let file = if self.v2 { "memory.events" } else { "memory.oom_control" };
        self.read(file)
            .lines()
            .find_map(|line| line.strip_prefix("oom_kill ")?.trim().parse().ok())
            .unwrap_or(0)
    }
}

impl Drop for MemoryGroup {
    fn drop(&mut self) {
        for _ in 0..50 {
            if std::fs::remove_dir(&self.path).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// The real binary, born inside `group` (a shell joins it, then execs the server), with
/// `args`.
struct Server {
    child: Child,
    grpc: SocketAddr,
    rest: SocketAddr,
}

impl Server {
    async fn start(group: &MemoryGroup, args: &[&str]) -> Self {
        let procs = group.path.join("cgroup.procs");
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(format!("echo $$ > {} && exec \"$0\" \"$@\"", procs.display()))
            .arg(env!("CARGO_BIN_EXE_rpc-vs-rest"))
            .args(["serve", "--grpc-addr", "127.0.0.1:0", "--rest-addr", "127.0.0.1:0"])
            .args(["--print-addresses", "--profile", "lean"])
            .args(args)
            .env("RUST_LOG", "error")
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("start the server in its cgroup");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .expect("the server printed no addresses within 30 s")
            .unwrap()
            .expect("the server exited before it served");
        let addresses: BoundAddresses = serde_json::from_str(&line).unwrap();
        Self { child, grpc: addresses.grpc_addr, rest: addresses.rest_addr }
    }

    /// Alive, never killed, and a normal call answered on each port.
    async fn still_serves(&mut self, group: &MemoryGroup, flood: &str) {
        assert!(self.child.try_wait().unwrap().is_none(), "{flood}: the server died");
        assert_eq!(group.oom_kills(), 0, "{flood}: the kernel killed the server");
        let greeting = http1()
            .post(format!("http://{}/v1/greeter/hello", self.rest))
            .json(&serde_json::json!({"name": "Ada"}))
            .send()
            .await
            .unwrap();
        assert_eq!(greeting.status(), 200, "{flood}: REST");
        let mut grpc = contract::proto::greeter_client::GreeterClient::connect(format!(
            "http://{}",
            self.grpc
        ))
        .await
        .unwrap();
        let reply = grpc.say_hello(HelloRequest { name: "Ada".into() }).await.unwrap();
        assert_eq!(reply.into_inner().message, "Hello Ada", "{flood}: gRPC");
        eprintln!("{flood}: peak {} MiB of 256, server alive and serving", group.peak_mib());
    }
}

/// A gRPC message frame: flag (1: compressed), length, message.
fn grpc_frame(compressed: bool, message: &[u8]) -> Vec<u8> {
    let mut frame = vec![u8::from(compressed)];
    frame.extend_from_slice(&u32::try_from(message.len()).unwrap().to_be_bytes());
    frame.extend_from_slice(message);
    frame
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// A body that sends `head` and then holds the request open until dropped.
fn stalled_body(head: Vec<u8>) -> reqwest::Body {
    let first =
        futures_util::stream::once(async move { Ok::<_, std::io::Error>(Bytes::from(head)) });
    reqwest::Body::wrap_stream(first.chain(futures_util::stream::pending()))
}

#[tokio::test]
async fn slow_uploads_at_the_body_limit_are_shed_and_nothing_else_breaks() {
    let Some(group) = MemoryGroup::create("uploads") else { return };
    let mut server = Server::start(&group, &[]).await;
    // REST: 24 uploads of 15 MiB, every byte but the last sent, then silence.
    let mut uploads = Vec::new();
    for _ in 0..24 {
        let mut socket = TcpStream::connect(server.rest).await.unwrap();
        let head = format!(
            "POST /v1/greeter/hello HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\n\
             Content-Length: {BIG}\r\n\r\n"
        );
        socket.write_all(head.as_bytes()).await.unwrap();
        uploads.push(socket);
    }
    let chunk = vec![b'a'; 64 * 1024];
    let mut sent = 0;
    while sent < BIG - 1 {
        let step = chunk.len().min(BIG - 1 - sent);
        for socket in &mut uploads {
            // A refused upload's connection may be closed under us: that is the refusal.
            let _ = socket.write_all(&chunk[..step]).await;
        }
        sent += step;
    }
    // gRPC: 24 calls whose one message of 15 MiB never finishes arriving.
    let mut message = HelloRequest { name: "a".repeat(BIG) }.encode_to_vec();
    message.truncate(BIG - 1);
    let mut calls = Vec::new();
    for _ in 0..24 {
        let mut frame = grpc_frame(false, &[]);
        frame[1..5].copy_from_slice(&u32::try_from(BIG).unwrap().to_be_bytes());
        frame.extend_from_slice(&message);
        let call = http2()
            .post(format!("http://{}/helloworld.Greeter/SayHello", server.grpc))
            .header("content-type", "application/grpc")
            .header("te", "trailers")
            .body(stalled_body(frame))
            .send();
        calls.push(tokio::spawn(call));
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    server.still_serves(&group, "slow uploads of 15 MiB, 24 on each port").await;

    // Those past the budget were told so: 503 on REST, UNAVAILABLE on gRPC.
    let mut refused_rest = 0;
    for socket in &mut uploads {
        let mut reply = vec![0; 4096];
        let read = tokio::time::timeout(Duration::from_millis(200), socket.read(&mut reply)).await;
        if let Ok(Ok(n)) = read
            && String::from_utf8_lossy(&reply[..n]).starts_with("HTTP/1.1 503")
        {
            refused_rest += 1;
        }
    }
    assert!(refused_rest > 0, "no REST upload was refused 503");
    let mut refused_grpc = 0;
    for call in calls {
        if let Ok(Ok(Ok(response))) = tokio::time::timeout(Duration::from_millis(500), call).await
            && response.headers().get("grpc-status").is_some_and(|status| status == "14")
        {
            refused_grpc += 1;
        }
    }
    assert!(refused_grpc > 0, "no gRPC upload was refused UNAVAILABLE");
}

#[tokio::test]
async fn compressed_bombs_on_both_ports_do_not_take_the_server_down() {
    let Some(group) = MemoryGroup::create("bombs") else { return };
    let mut server = Server::start(&group, &[]).await;
    // 15 MiB of JSON (a name far past its limit) in 15 KiB of gzip, 60 at once on REST, and
    // as many gzip-compressed gRPC messages (each is decompressed whole: more take minutes in
    // a debug build on two cores).
    let json = format!(r#"{{"name":"{}"}}"#, "a".repeat(BIG));
    let rest_bomb = Bytes::from(gzip(json.as_bytes()));
    let grpc_bomb = Bytes::from(grpc_frame(
        true,
        &gzip(&HelloRequest { name: "a".repeat(BIG) }.encode_to_vec()),
    ));
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(120));
    let mut bombs = Vec::new();
    for _ in 0..60 {
        let (rest, body, start) = (server.rest, rest_bomb.clone(), barrier.clone());
        bombs.push(tokio::spawn(async move {
            let request = http1()
                .post(format!("http://{rest}/v1/greeter/hello"))
                .header("content-type", "application/json")
                .header("content-encoding", "gzip")
                .body(body);
            start.wait().await;
            request.send().await.map(|response| response.status().as_u16())
        }));
        let (grpc, body, start) = (server.grpc, grpc_bomb.clone(), barrier.clone());
        bombs.push(tokio::spawn(async move {
            let request = http2()
                .post(format!("http://{grpc}/helloworld.Greeter/SayHello"))
                .header("content-type", "application/grpc")
                .header("grpc-encoding", "gzip")
                .header("te", "trailers")
                .body(body);
            start.wait().await;
            request.send().await.map(|response| response.status().as_u16())
        }));
    }
    for bomb in bombs {
        // Each is refused (a name past its limit, or the budget); none may hang.
        let _ = tokio::time::timeout(Duration::from_secs(90), bomb).await.expect("a bomb hung");
    }
    server.still_serves(&group, "60 gzip bombs of 15 MiB on each port at once").await;
}

#[tokio::test]
async fn connections_streams_and_sessions_past_the_limits_are_refused_and_nothing_else_breaks() {
    let Some(group) = MemoryGroup::create("connections") else { return };
    let mut server = Server::start(&group, &["--max-connections", "1500"]).await;
    // WebSocket sessions of the chat, open and quiet.
    let mut sessions = Vec::new();
    for _ in 0..500 {
        let url = format!("ws://{}/v1/greeter/chat", server.rest);
        let (session, _) = tokio_tungstenite::connect_async(url).await.expect("a chat session");
        sessions.push(session);
    }
    // Connections up to and past the limit, saying nothing.
    let mut idle = Vec::new();
    for _ in 0..2000 {
        if let Ok(socket) = TcpStream::connect(server.rest).await {
            idle.push(socket);
        }
    }
    // HTTP/2 connections each with 100 streams open, their bodies never finishing.
    let mut streams = Vec::new();
    for _ in 0..20 {
        let client = reqwest::Client::builder().http2_prior_knowledge().build().unwrap();
        for _ in 0..100 {
            let call = client
                .post(format!("http://{}/helloworld.Greeter/SayHello", server.grpc))
                .header("content-type", "application/grpc")
                .header("te", "trailers")
                .body(stalled_body(grpc_frame(false, &[])[..3].to_vec()))
                .send();
            streams.push(tokio::spawn(call));
        }
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(server.child.try_wait().unwrap().is_none(), "the server died");
    assert_eq!(group.oom_kills(), 0, "the kernel killed the server");
    eprintln!(
        "2,000 idle connections (limit 1,500), 20 HTTP/2 connections x 100 open streams, {} \
         WebSocket sessions: peak {} MiB of 256",
        sessions.len(),
        group.peak_mib()
    );
    // The REST port is full, and the stalled streams hold every call the gRPC port admits
    // (shed beyond `--max-in-flight`): let them go, then a normal call on each port.
    drop(idle);
    drop(sessions);
    for stream in streams {
        stream.abort();
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    server.still_serves(&group, "connections, streams and sessions").await;
}
