//! The real `rpc-vs-rest` binary as a child process on free loopback ports.

use std::{net::SocketAddr, process::Stdio, sync::Arc};

use serde_json::Value;
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{Child, Command},
    sync::Mutex,
};

pub struct Binary {
    pub child: Child,
    pub grpc_addr: SocketAddr,
    pub rest_addr: SocketAddr,
    /// Every line the process has logged so far (JSON), kept as it runs.
    pub logs: Arc<Mutex<Vec<String>>>,
}

impl Binary {
    /// Starts the binary with JSON logs plus `args` and `envs`, and waits for its addresses.
    pub async fn start(args: &[&str], envs: &[(&str, &str)]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_rpc-vs-rest"))
            .args([
                "--grpc-addr",
                "127.0.0.1:0",
                "--rest-addr",
                "127.0.0.1:0",
                "--log-format",
                "json",
            ])
            .args(args)
            .envs(envs.iter().copied())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("start rpc-vs-rest");
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let logs = Arc::new(Mutex::new(Vec::new()));
        // The startup line is logged at INFO: a RUST_LOG that hides it would leave us waiting.
        let startup = tokio::time::Duration::from_secs(30);
        while let Some(line) = tokio::time::timeout(startup, lines.next_line())
            .await
            .expect(
                "the server logged no addresses within 30 s (is rpc_vs_rest=info filtered out?)",
            )
            .unwrap()
        {
            logs.lock().await.push(line.clone());
            let log: Value = serde_json::from_str(&line).unwrap_or_default();
            if log["message"] == "serving gRPC and REST" {
                let grpc_addr = log["grpc_addr"].as_str().unwrap().parse().unwrap();
                let rest_addr = log["rest_addr"].as_str().unwrap().parse().unwrap();
                let kept = logs.clone();
                // Keep reading so the child never blocks on a full pipe.
                tokio::spawn(async move {
                    while let Ok(Some(line)) = lines.next_line().await {
                        kept.lock().await.push(line);
                    }
                });
                return Self { child, grpc_addr, rest_addr, logs };
            }
        }
        panic!("the server exited before logging its addresses");
    }

    pub async fn sigterm(&self) {
        let pid = self.child.id().unwrap().to_string();
        let status = Command::new("kill").args(["-TERM", &pid]).status().await.unwrap();
        assert!(status.success());
    }
}

/// A process's resident memory, in KiB.
pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}
