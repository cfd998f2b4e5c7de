//! Where `compare` sends its load: a running server (`--grpc-target`, `--rest-target`), or,
//! by default, this binary started as a child process on free loopback ports.

use std::{net::SocketAddr, process::Stdio, time::Duration};

use anyhow::Context as _;
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{Child, Command},
};

use super::address::{GrpcTarget, RestTarget};
use crate::compare::clients::tls::ClientTls;
use crate::{
    config::{Http2Windows, Profile},
    server::BoundAddresses,
};

/// Where a target that was not given "is": an address no cell connects to.
pub(crate) const UNSPECIFIED: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), 0);

pub(crate) struct Target {
    /// One gRPC connection per address; calls go round robin when there are several.
    pub(crate) grpc: Vec<SocketAddr>,
    pub(crate) rest: SocketAddr,
    /// The child's profile, when `compare` started it.
    pub(crate) profile: Option<Profile>,
    /// The child server, when `compare` started it (killed on drop).
    child: Option<Child>,
    /// How the clients speak TLS to it; `None`: plaintext.
    pub(crate) tls: Option<ClientTls>,
    /// The certificate of the server compare started, kept while it runs.
    _certificate: Option<CertificateFiles>,
}

/// Linux reports process CPU time in clock ticks of 1/100 s (USER_HZ).
const TICKS_PER_SECOND: u64 = 100;

impl Target {
    /// Running servers: the gRPC one, the REST one, or both. A missing one is left without
    /// addresses (no gRPC address, REST at the unspecified address), which no cell of the run
    /// uses: the cells are narrowed to the targets first.
    pub(crate) async fn remote(
        grpc: Option<&GrpcTarget>,
        rest: Option<&RestTarget>,
        tls: Option<ClientTls>,
    ) -> anyhow::Result<Self> {
        let grpc = match grpc {
            Some(grpc) => grpc.resolve().await?,
            None => Vec::new(),
        };
        let rest = match rest {
            Some(rest) => Some(rest.resolve().await?),
            None => None,
        };
        Ok(Self {
            grpc,
            rest: rest.unwrap_or(UNSPECIFIED),
            profile: None,
            child: None,
            tls,
            _certificate: None,
        })
    }

    /// Starts `rpc-vs-rest serve --profile PROFILE` on loopback and waits for its addresses,
    /// which it prints on stdout (`--print-addresses`). Its errors go to our stderr.
    /// With `tls`, the server gets a certificate made now (its files are removed when the
    /// server stops), and the clients trust it.
    pub(crate) async fn local(
        profile: Profile,
        windows: Http2Windows,
        tls: bool,
    ) -> anyhow::Result<Self> {
        let exe = std::env::current_exe().context("cannot find this binary to start a server")?;
        let certificate = tls.then(CertificateFiles::new).transpose()?;
        let mut child = Command::new(exe)
            .args([
                "serve",
                "--grpc-addr",
                "127.0.0.1:0",
                "--rest-addr",
                "127.0.0.1:0",
                "--print-addresses",
                "--profile",
                profile.as_str(),
            ])
            .args([
                format!("--http2-stream-window={}", windows.stream),
                format!("--http2-connection-window={}", windows.connection),
            ])
            .args(windows.adaptive.then_some("--http2-adaptive-window"))
            .args(certificate.iter().flat_map(|files| {
                [
                    "--tls-cert".as_ref(),
                    files.cert.as_os_str(),
                    "--tls-key".as_ref(),
                    files.key.as_os_str(),
                ]
            }))
            .env("RUST_LOG", "error")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .context("cannot start the server")?;
        let mut stdout = BufReader::new(child.stdout.take().context("no stdout")?).lines();
        let line = tokio::time::timeout(Duration::from_secs(30), stdout.next_line())
            .await
            .context("the server did not start within 30 s")??
            .context("the server exited before it served")?;
        let addresses: BoundAddresses = serde_json::from_str(&line)
            .with_context(|| format!("the server printed {line:?}, not its addresses"))?;
        Ok(Self {
            grpc: vec![addresses.grpc_addr],
            rest: addresses.rest_addr,
            profile: Some(profile),
            child: Some(child),
            tls: certificate.as_ref().map(|files| files.client.clone()),
            _certificate: certificate,
        })
    }

    /// The server's process id, when it is a local child.
    pub(crate) fn pid(&self) -> Option<u32> {
        self.child.as_ref()?.id()
    }

    /// The server's CPU time so far (user + system), when it is a local child.
    pub(crate) fn server_cpu(&self) -> Option<Duration> {
        process_cpu(&self.pid()?.to_string())
    }
}

/// A certificate for the server compare starts, in files the server reads at start; removed
/// when dropped.
struct CertificateFiles {
    dir: std::path::PathBuf,
    cert: std::path::PathBuf,
    key: std::path::PathBuf,
    /// Clients that trust it.
    client: ClientTls,
}

impl CertificateFiles {
    fn new() -> anyhow::Result<Self> {
        static MADE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let made = MADE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("rpc-vs-rest-compare-{}-{made}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let (cert_pem, key_pem) = crate::compare::clients::tls::self_signed()?;
        let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
        std::fs::write(&cert, &cert_pem)?;
        std::fs::write(&key, key_pem)?;
        let client = ClientTls::trusting(cert_pem.as_bytes(), "localhost")?;
        Ok(Self { dir, cert, key, client })
    }
}

impl Drop for CertificateFiles {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// This process's CPU time so far (user + system): the client's own cost, which takes from
/// the server's cores when both run on the same ones.
pub(crate) fn client_cpu() -> Option<Duration> {
    process_cpu("self")
}

/// A process's CPU time so far (user + system), from `/proc/PID/stat`.
fn process_cpu(pid: &str) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 1000 / TICKS_PER_SECOND))
}
