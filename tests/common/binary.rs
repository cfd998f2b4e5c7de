//! The real `rpc-vs-rest` binary as a child process on free loopback ports.

use std::{net::SocketAddr, process::Stdio, sync::Arc, time::Duration};

use contract::facts::BoundAddresses;
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
    /// Starts the binary with JSON logs plus `args` and `envs`, and waits for its addresses
    /// (`--print-addresses`); its log lines are collected in `logs` as they come.
    pub async fn start(args: &[&str], envs: &[(&str, &str)]) -> Self {
        let mut child = Command::new(super::binary_path())
            .args([
                "--grpc-addr",
                "127.0.0.1:0",
                "--rest-addr",
                "127.0.0.1:0",
                "--log-format",
                "json",
                "--print-addresses",
            ])
            .args(args)
            .envs(envs.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("start rpc-vs-rest");
        let logs = Arc::new(Mutex::new(Vec::new()));
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let kept = logs.clone();
        // Read all along, so the child never blocks on a full pipe.
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                kept.lock().await.push(line);
            }
        });
        let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
        let line = tokio::time::timeout(Duration::from_secs(30), stdout.next_line())
            .await
            .expect("the server printed no addresses within 30 s")
            .unwrap()
            .unwrap_or_else(|| {
                panic!(
                    "the server exited before it served: {:?}",
                    logs.try_lock().map(|logs| logs.clone())
                )
            });
        let addresses: BoundAddresses = serde_json::from_str(&line).unwrap();
        Self { child, grpc_addr: addresses.grpc_addr, rest_addr: addresses.rest_addr, logs }
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
