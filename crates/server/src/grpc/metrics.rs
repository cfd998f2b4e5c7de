//! The gRPC port's metrics: every call counted by its method (the request path) and its gRPC
//! status, read from the reply's headers (a trailers-only reply) or from its trailers, not
//! from the HTTP 200 it rides on.

use std::{
    pin::Pin,
    task::{Context, Poll},
    time::Instant,
};

use axum::{
    body::Body,
    http::{HeaderMap, uri::PathAndQuery},
    response::Response,
};
use http_body::Frame;

use crate::{
    metrics::{CallName, Metrics, Protocol, Recorder},
    serving::FinishReply,
};

/// Starts counting a gRPC call: by its method (the request path), and by the protocol it came
/// in (gRPC, unless a translation in front marked it Connect).
pub(crate) fn watch(metrics: &Metrics, request: &axum::extract::Request) -> GrpcCallWatch {
    GrpcCallWatch {
        recorder: metrics.recorder(),
        method: request.uri().path_and_query().cloned(),
        protocol: request.extensions().get::<Protocol>().copied().unwrap_or(Protocol::Grpc),
        started: Instant::now(),
    }
}

/// A gRPC call being counted: started when the request came in.
#[derive(Debug)]
pub(crate) struct GrpcCallWatch {
    recorder: Recorder,
    method: Option<PathAndQuery>,
    protocol: Protocol,
    started: Instant,
}

impl FinishReply for GrpcCallWatch {
    /// Counts the call by its gRPC status: from the headers of a trailers-only reply, or from
    /// the trailers once the body has been sent.
    fn finish(self, response: Response) -> Response {
        if let Some(status) = grpc_status(response.headers()) {
            self.record(status);
            return response;
        }
        let (parts, body) = response.into_parts();
        let body = StatusWatch { inner: body, watch: Some(self) };
        Response::from_parts(parts, Body::new(body))
    }
}

impl GrpcCallWatch {
    fn record(self, status: u16) {
        let path = self.method.as_ref().map_or("", PathAndQuery::path);
        let call = CallName { protocol: self.protocol, verb: "", path };
        self.recorder.record(call, status, self.started.elapsed());
    }
}

fn grpc_status(headers: &HeaderMap) -> Option<u16> {
    headers.get("grpc-status")?.to_str().ok()?.parse().ok()
}

/// A response body that records the call when its trailers (or its end) go by.
struct StatusWatch {
    inner: Body,
    watch: Option<GrpcCallWatch>,
}

impl StatusWatch {
    fn finish(&mut self, status: tonic::Code) {
        if let Some(watch) = self.watch.take() {
            watch.record(status as u16);
        }
    }
}

impl http_body::Body for StatusWatch {
    type Data = bytes::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(status) = frame.trailers_ref().and_then(grpc_status) {
                    self.finish(tonic::Code::from(i32::from(status)));
                }
            }
            Poll::Ready(Some(Err(_)) | None) => self.finish(tonic::Code::Unknown),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for StatusWatch {
    /// A body dropped before its end: the client went away mid-call.
    fn drop(&mut self) {
        self.finish(tonic::Code::Cancelled);
    }
}
