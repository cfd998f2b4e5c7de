//! What `--grpc-target` and `--rest-target` accept, and the socket addresses they resolve to.
//! The gRPC forms follow gRPC's own naming (`dns:///host:port`, `ipv4:a:p,b:p`), because the
//! difference between them is the load-balancing lesson: one name, one connection, one server;
//! every address behind the name, one connection each, calls spread round robin.

use std::{net::SocketAddr, str::FromStr};

use crate::clients::balanced::{Answer, every_address, lookup};

/// A gRPC target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GrpcTarget {
    /// `host:port` (or `http://host:port`): one connection to the first address, as a plain
    /// client makes; through a Kubernetes ClusterIP Service, every call then goes to one pod.
    One(String),
    /// `dns:///host:port`: every address the name resolves to (a headless Service lists each
    /// pod), one connection each, calls round robin.
    EveryAddress(String),
    /// `ipv4:a:p,b:p` or `ipv6:[a]:p,[b]:p`: these addresses, one connection each, round robin.
    List(Vec<SocketAddr>),
}

impl GrpcTarget {
    /// The addresses to connect to, one connection each.
    pub(crate) async fn resolve(&self) -> anyhow::Result<Vec<SocketAddr>> {
        match self {
            GrpcTarget::One(host_port) => Ok(vec![resolve_first(host_port).await?]),
            GrpcTarget::EveryAddress(host_port) => every_address(host_port).await,
            GrpcTarget::List(addrs) => Ok(addrs.clone()),
        }
    }

    /// The name the clients ask again every `--resolve-every`, for `dns:///host:port`.
    pub(crate) fn answer(&self) -> Option<Answer> {
        match self {
            GrpcTarget::EveryAddress(host_port) => Some(Answer::Dns(host_port.clone())),
            GrpcTarget::One(_) | GrpcTarget::List(_) => None,
        }
    }
}

impl FromStr for GrpcTarget {
    type Err = String;

    fn from_str(target: &str) -> Result<Self, Self::Err> {
        if let Some(host_port) = target.strip_prefix("dns:///") {
            return host_port_of(host_port).map(GrpcTarget::EveryAddress);
        }
        if let Some(list) = target.strip_prefix("ipv4:").or_else(|| target.strip_prefix("ipv6:")) {
            return list
                .split(',')
                .map(|addr| addr.parse().map_err(|_| format!("{addr:?} is not an IP:port")))
                .collect::<Result<_, _>>()
                .map(GrpcTarget::List);
        }
        if target.starts_with("dns:") {
            return Err("use dns:///host:port (a DNS server authority is not supported)".into());
        }
        host_port_of(target.strip_prefix("http://").unwrap_or(target)).map(GrpcTarget::One)
    }
}

/// A REST target: `host:port` or `http://host:port`. HTTP/1.1 cells open one connection per
/// call in flight to it, which a ClusterIP Service spreads over its pods.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestTarget(String);

impl RestTarget {
    pub(crate) async fn resolve(&self) -> anyhow::Result<SocketAddr> {
        resolve_first(&self.0).await
    }

    /// The host part (a name or an address), without brackets or port.
    pub(crate) fn host(&self) -> String {
        let host = self.0.rsplit_once(':').map_or(&self.0[..], |(host, _)| host);
        host.trim_start_matches('[').trim_end_matches(']').to_owned()
    }
}

impl FromStr for RestTarget {
    type Err = String;

    fn from_str(target: &str) -> Result<Self, Self::Err> {
        host_port_of(target.strip_prefix("http://").unwrap_or(target)).map(RestTarget)
    }
}

fn host_port_of(host_port: &str) -> Result<String, String> {
    let port = host_port.rsplit_once(':').map(|(host, port)| (host, port.parse::<u16>()));
    match port {
        Some((host, Ok(_))) if !host.is_empty() && !host_port.contains('/') => {
            Ok(host_port.to_owned())
        }
        _ => Err(format!("{host_port:?} is not host:port")),
    }
}

async fn resolve_first(host_port: &str) -> anyhow::Result<SocketAddr> {
    Ok(lookup(host_port).await?[0])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_targets_read_like_grpc_names() {
        assert_eq!("svc:50051".parse(), Ok(GrpcTarget::One("svc:50051".into())));
        assert_eq!("http://svc:50051".parse(), Ok(GrpcTarget::One("svc:50051".into())));
        assert_eq!(
            "dns:///svc-headless:50051".parse(),
            Ok(GrpcTarget::EveryAddress("svc-headless:50051".into()))
        );
        assert_eq!(
            "ipv4:127.0.0.1:1,127.0.0.2:2".parse(),
            Ok(GrpcTarget::List(vec![
                "127.0.0.1:1".parse().unwrap(),
                "127.0.0.2:2".parse().unwrap()
            ]))
        );
        assert_eq!("ipv6:[::1]:1".parse(), Ok(GrpcTarget::List(vec!["[::1]:1".parse().unwrap()])));
    }

    #[test]
    fn malformed_targets_say_what_is_wrong() {
        for bad in ["svc", "svc:port", ":50051", "dns://8.8.8.8/svc:1", "ipv4:1.2.3.4", "a/b:1"] {
            assert!(bad.parse::<GrpcTarget>().is_err(), "{bad}");
        }
        assert!("svc".parse::<RestTarget>().is_err());
    }

    #[tokio::test]
    async fn every_address_of_a_name_is_used() {
        let target: GrpcTarget = "dns:///localhost:50051".parse().unwrap();
        let addrs = target.resolve().await.unwrap();
        assert!(addrs.iter().all(|a| a.ip().is_loopback() && a.port() == 50051), "{addrs:?}");
        let one = GrpcTarget::One("localhost:50051".into()).resolve().await.unwrap();
        assert_eq!(one.len(), 1);
    }
}
