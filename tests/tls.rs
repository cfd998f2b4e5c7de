//! TLS on both ports with certificates the test makes (rcgen): REST over HTTPS (HTTP/1.1 and
//! HTTP/2 by ALPN), gRPC over TLS, mutual TLS refusing clients without a certificate, and a
//! handshake timeout for clients that never finish.

mod common;

use std::time::Duration;

use common::TestServer;
use contract::proto::{HelloRequest, greeter_client::GreeterClient};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, ExtendedKeyUsagePurpose, IsCa, KeyPair,
};
use server::config::ServeConfig;
use tokio::{io::AsyncReadExt, net::TcpStream};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};

struct Pki {
    dir: tempfile::TempDir,
    ca_pem: String,
    client_cert_pem: String,
    client_key_pem: String,
}

impl Pki {
    /// A CA, a server certificate for localhost and 127.0.0.1, and a client certificate.
    fn new() -> Self {
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();

        let server_key = KeyPair::generate().unwrap();
        let server_cert = CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()])
            .unwrap()
            .signed_by(&server_key, &ca)
            .unwrap();

        let client_key = KeyPair::generate().unwrap();
        let mut client_params = CertificateParams::new(vec!["client".into()]).unwrap();
        client_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let client_cert = client_params.signed_by(&client_key, &ca).unwrap();

        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ca.pem"), ca.pem()).unwrap();
        std::fs::write(dir.path().join("server.pem"), server_cert.pem()).unwrap();
        std::fs::write(dir.path().join("server.key"), server_key.serialize_pem()).unwrap();
        Self {
            dir,
            ca_pem: ca.pem(),
            client_cert_pem: client_cert.pem(),
            client_key_pem: client_key.serialize_pem(),
        }
    }

    fn path(&self, name: &str) -> std::path::PathBuf {
        self.dir.path().join(name)
    }

    fn config(&self, mutual: bool) -> ServeConfig {
        let mut config = ServeConfig::loopback();
        config.tls.tls_cert = Some(self.path("server.pem"));
        config.tls.tls_key = Some(self.path("server.key"));
        if mutual {
            config.tls.tls_client_ca = Some(self.path("ca.pem"));
        }
        config.tls.tls_handshake_timeout = Duration::from_secs(1);
        config
    }

    fn https_client(&self, http2: bool, identity: bool) -> reqwest::Client {
        let mut builder = reqwest::Client::builder()
            .use_rustls_tls()
            .add_root_certificate(reqwest::Certificate::from_pem(self.ca_pem.as_bytes()).unwrap());
        builder = if http2 { builder.http2_adaptive_window(true) } else { builder.http1_only() };
        if identity {
            let pem = format!("{}{}", self.client_cert_pem, self.client_key_pem);
            builder = builder.identity(reqwest::Identity::from_pem(pem.as_bytes()).unwrap());
        }
        builder.build().unwrap()
    }

    async fn grpc_client(
        &self,
        server: &TestServer,
        identity: bool,
    ) -> Result<GreeterClient<Channel>, tonic::transport::Error> {
        let mut tls = ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(&self.ca_pem))
            .domain_name("localhost");
        if identity {
            tls = tls.identity(Identity::from_pem(&self.client_cert_pem, &self.client_key_pem));
        }
        let channel =
            Channel::from_shared(format!("https://localhost:{}", server.grpc_addr.port()))
                .unwrap()
                .tls_config(tls)?
                .connect()
                .await?;
        Ok(GreeterClient::new(channel))
    }
}

#[tokio::test]
async fn rest_over_https_with_http1_and_http2() {
    let pki = Pki::new();
    let server = TestServer::spawn_with(pki.config(false)).await;
    let url = format!("https://localhost:{}/v1/greeter/hello/Ada", server.rest_addr.port());
    for (http2, version) in [(false, reqwest::Version::HTTP_11), (true, reqwest::Version::HTTP_2)] {
        let response = pki.https_client(http2, false).get(&url).send().await.unwrap();
        assert_eq!(response.version(), version);
        assert_eq!(response.text().await.unwrap(), r#"{"message":"Hello Ada"}"#);
    }
}

#[tokio::test]
async fn grpc_over_tls() {
    let pki = Pki::new();
    let server = TestServer::spawn_with(pki.config(false)).await;
    let mut client = pki.grpc_client(&server, false).await.unwrap();
    let reply = client.say_hello(HelloRequest { name: "Ada".into() }).await.unwrap();
    assert_eq!(reply.into_inner().message, "Hello Ada");
}

#[tokio::test]
async fn plain_text_clients_get_nothing_from_a_tls_port() {
    let pki = Pki::new();
    let server = TestServer::spawn_with(pki.config(false)).await;
    let response = reqwest::get(format!("http://{}/healthz", server.rest_addr)).await;
    assert!(response.is_err(), "{response:?}");
}

#[tokio::test]
async fn mutual_tls_admits_clients_with_a_certificate_only() {
    let pki = Pki::new();
    let server = TestServer::spawn_with(pki.config(true)).await;
    let url = format!("https://localhost:{}/healthz", server.rest_addr.port());
    assert!(
        pki.https_client(false, false).get(&url).send().await.is_err(),
        "no client certificate"
    );
    let response = pki.https_client(false, true).get(&url).send().await.unwrap();
    assert_eq!(response.status(), 200);

    let refused = match pki.grpc_client(&server, false).await {
        Err(_) => true,
        Ok(mut client) => client.say_hello(HelloRequest { name: "Ada".into() }).await.is_err(),
    };
    assert!(refused, "a gRPC client without a certificate must be refused");
    let mut client = pki.grpc_client(&server, true).await.unwrap();
    let reply = client.say_hello(HelloRequest { name: "Ada".into() }).await.unwrap();
    assert_eq!(reply.into_inner().message, "Hello Ada");
}

#[tokio::test]
async fn a_client_that_never_finishes_the_handshake_is_closed() {
    let pki = Pki::new();
    let server = TestServer::spawn_with(pki.config(false)).await;
    let mut socket = TcpStream::connect(server.rest_addr).await.unwrap();
    let mut buffer = Vec::new();
    let closed =
        tokio::time::timeout(Duration::from_secs(4), socket.read_to_end(&mut buffer)).await;
    assert!(closed.is_ok(), "the silent TLS client was not closed");
}
