//! How each cell calls the server: the cells and their clients (unary, gRPC streams, REST
//! streams, WebSocket chats), the connections they open (HTTP/1.1 and HTTP/2 by hand, TLS,
//! bytes counted at the socket), compression, and the check of every reply against the domain.

pub(crate) mod balanced;
pub(crate) mod cell;
pub(crate) mod check;
pub(crate) mod compression;
pub(crate) mod grpc;
pub(crate) mod http1;
pub(crate) mod http2;
pub(crate) mod lean_h2;
pub(crate) mod redial;
pub(crate) mod rest;
pub(crate) mod tls;
pub(crate) mod turns;
pub(crate) mod unary;
pub(crate) mod websocket;
pub(crate) mod wire;
