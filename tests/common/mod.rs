//! What every integration test starts from: a real server on loopback port 0, and real
//! clients pointed at it.

#![allow(dead_code, unreachable_pub)]

pub mod binary;
pub mod browser;
pub mod compare_runs;
pub mod docs;
pub mod outside;
pub mod reflection;
pub mod tools;

use std::{net::SocketAddr, path::Path};

use ::server::{
    config::ServeConfig,
    server::{self, Listeners},
};

use contract::proto::greeter_client::GreeterClient;
use tokio::{sync::oneshot, task::JoinHandle};
use tonic::transport::Channel;

/// The repository's root, whichever package this test belongs to (the binary's, at the root,
/// or the server's, in crates/server): the folder that holds the workspace's Cargo.lock.
pub fn repository() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .find(|folder| folder.join("Cargo.lock").is_file())
        .expect("the workspace's Cargo.lock above this package")
}

/// The `rpc-vs-rest` binary, which Cargo builds for the tests of its own package (the root):
/// the tests that start it belong there.
pub fn binary_path() -> &'static str {
    // Set for the root package's tests only; the server's tests never start the binary.
    match option_env!("CARGO_BIN_EXE_rpc-vs-rest") {
        Some(path) => path,
        None => panic!("only tests of the rpc-vs-rest package (the root) can start the binary"),
    }
}

/// A server running in this test's runtime, on two free loopback ports.
pub struct TestServer {
    pub grpc_addr: SocketAddr,
    pub rest_addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<anyhow::Result<()>>>,
}

impl TestServer {
    pub async fn spawn() -> Self {
        Self::spawn_with(ServeConfig::loopback()).await
    }

    pub async fn spawn_with(config: ServeConfig) -> Self {
        let listeners = Listeners::bind(&config).await.expect("bind loopback ports");
        let grpc_addr = listeners.grpc_addr().unwrap();
        let rest_addr = listeners.rest_addr().unwrap();
        let (shutdown, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            server::run(listeners, &config, async {
                let _ = stopped.await;
            })
            .await
        });
        Self { grpc_addr, rest_addr, shutdown: Some(shutdown), task: Some(task) }
    }

    pub fn rest_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.rest_addr)
    }

    pub fn grpc_url(&self) -> String {
        format!("http://{}", self.grpc_addr)
    }

    pub async fn grpc_client(&self) -> GreeterClient<Channel> {
        GreeterClient::connect(self.grpc_url()).await.expect("connect to the gRPC port")
    }

    pub async fn grpc_channel(&self) -> Channel {
        Channel::from_shared(self.grpc_url()).unwrap().connect().await.expect("connect")
    }

    /// Sends the shutdown signal and waits for the server to return.
    pub async fn shut_down(mut self) -> anyhow::Result<()> {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        self.task.take().unwrap().await.expect("server task panicked")
    }
}

/// An HTTP/1.1 client.
pub fn http1() -> reqwest::Client {
    reqwest::Client::builder().http1_only().build().unwrap()
}

/// An HTTP/2 client with prior knowledge (h2c), as the REST port speaks without TLS.
pub fn http2() -> reqwest::Client {
    reqwest::Client::builder().http2_prior_knowledge().build().unwrap()
}

/// Both clients, labelled for assert messages.
pub fn http_clients() -> [(&'static str, reqwest::Client); 2] {
    [("HTTP/1.1", http1()), ("h2c", http2())]
}
