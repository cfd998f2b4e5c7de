//! TLS for `compare --tls`: rustls on the client side of every cell, HTTP/2 cells asking for
//! `h2` by ALPN and HTTP/1.1 cells for `http/1.1`, and a certificate made at start for the
//! server compare runs itself. A cell that does not get the protocol it asked for fails: an
//! HTTP/2 cell talking HTTP/1.1 would measure the wrong protocol.

use std::{io, sync::Arc};

use anyhow::Context as _;
use rustls::{
    ClientConfig, RootCertStore,
    crypto::ring,
    pki_types::{CertificateDer, ServerName, pem::PemObject},
};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::{TlsConnector, client::TlsStream};

/// The protocol a cell asks for by ALPN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Alpn {
    H2,
    Http1,
}

/// How compare's clients speak TLS to one server: whom they trust and the name they expect.
#[derive(Debug, Clone)]
pub struct ClientTls {
    h2: Arc<ClientConfig>,
    http1: Arc<ClientConfig>,
    server_name: ServerName<'static>,
}

impl ClientTls {
    /// Clients that trust the certificates in `ca_pem` and expect `server_name` on the
    /// server's certificate.
    pub fn trusting(ca_pem: &[u8], server_name: &str) -> anyhow::Result<Self> {
        let mut roots = RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(ca_pem) {
            roots.add(cert.context("a certificate in the CA file does not parse")?)?;
        }
        anyhow::ensure!(!roots.is_empty(), "the CA file holds no certificate");
        let connector = |alpn: &[u8]| -> anyhow::Result<Arc<ClientConfig>> {
            let mut config =
                ClientConfig::builder_with_provider(Arc::new(ring::default_provider()))
                    .with_safe_default_protocol_versions()?
                    .with_root_certificates(roots.clone())
                    .with_no_client_auth();
            config.alpn_protocols = vec![alpn.to_vec()];
            Ok(Arc::new(config))
        };
        Ok(Self {
            h2: connector(b"h2")?,
            http1: connector(b"http/1.1")?,
            server_name: ServerName::try_from(server_name.to_owned())
                .with_context(|| format!("{server_name:?} is not a server name"))?,
        })
    }

    /// The same clients, with TLS session resumption off: every connection pays a full
    /// handshake (rustls resumes by default, as most clients do).
    pub fn without_resumption(self) -> Self {
        let off = |config: &Arc<ClientConfig>| {
            let mut config = ClientConfig::clone(config);
            config.resumption = rustls::client::Resumption::disabled();
            Arc::new(config)
        };
        Self { h2: off(&self.h2), http1: off(&self.http1), ..self }
    }

    /// The TLS handshake on `stream`, asking for `alpn`; the protocol the server chose must
    /// be it (an HTTP/1.1 cell also takes a server that chose none).
    pub(crate) async fn handshake<S>(&self, stream: S, alpn: Alpn) -> io::Result<TlsStream<S>>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let connector = TlsConnector::from(match alpn {
            Alpn::H2 => self.h2.clone(),
            Alpn::Http1 => self.http1.clone(),
        });
        let tls = connector.connect(self.server_name.clone(), stream).await?;
        let chosen = tls.get_ref().1.alpn_protocol();
        let fits = match alpn {
            Alpn::H2 => chosen == Some(b"h2"),
            Alpn::Http1 => matches!(chosen, None | Some(b"http/1.1")),
        };
        if !fits {
            let chosen =
                chosen.map_or("nothing".into(), |p| String::from_utf8_lossy(p).into_owned());
            return Err(io::Error::other(format!(
                "the server chose {chosen} by ALPN where this cell asked for {}",
                match alpn {
                    Alpn::H2 => "h2",
                    Alpn::Http1 => "http/1.1",
                }
            )));
        }
        Ok(tls)
    }
}

/// A certificate and key (PEM) for `localhost` and 127.0.0.1, made now, for the server
/// compare starts itself.
pub(crate) fn self_signed() -> anyhow::Result<(String, String)> {
    let names = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
    let certified = rcgen::generate_simple_self_signed(names)?;
    Ok((certified.cert.pem(), certified.signing_key.serialize_pem()))
}
