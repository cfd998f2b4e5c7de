//! What the server states to whoever starts or calls it, beyond the API itself: the reply
//! header naming the server that answered, and the line of bound addresses `serve
//! --print-addresses` prints. The server writes them and `compare` (and the tests) read them,
//! so they live here, below both, rather than in either.

use std::net::SocketAddr;

use http::HeaderName;

/// Names the server (in Kubernetes, the pod) that answered, on every reply of both ports: how
/// `compare` sees calls spread over servers.
pub const SERVED_BY: HeaderName = HeaderName::from_static("x-served-by");

/// Where the two ports listen, as `serve --print-addresses` prints it (one line of JSON on
/// stdout) for the programs that start the server on port 0: `compare` and the tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BoundAddresses {
    pub grpc_addr: SocketAddr,
    pub rest_addr: SocketAddr,
}
