//! What a call of the comparison comes to: a reply that says what the domain says it should
//! (asked of the domain once per run, never restated here), or an error that says what went
//! wrong.

use contract::{
    greeter::Greeter,
    proto::{self, ComplexReply, PeopleReply},
};

use crate::workload::Workload;

/// The name every call of the comparison greets.
pub(crate) const NAME: &str = "World";

/// Why a call did not count.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error("gRPC {code}: {message}")]
    Grpc { code: tonic::Code, message: String },
    #[error("REST {status}: {body}")]
    Rest { status: http::StatusCode, body: String },
    /// The connection, the request or the reply's framing failed.
    #[error("{0}")]
    Transport(String),
    /// No connection could be had to the server (refused, or dialling in backoff): the call
    /// never left the client, and a client that knows other servers tries the next one.
    #[error("{0}")]
    Unreachable(String),
    /// A reply came, but not the one the domain gives.
    #[error("wrong reply: {0}")]
    WrongReply(String),
    #[error("this cell cannot carry this workload")]
    CannotCarry,
    /// The server never began the call, so sending it again cannot have it done twice (gRFC
    /// A6's transparent retry): why, and what the transport said.
    #[error("{detail}")]
    NotBegun { why: NotBegun, detail: String },
}

/// Whether a call the server never began is sent again (`--retry`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Retry {
    /// Once, as gRFC A6's transparent retry and hyper's pool do.
    #[default]
    Transparent,
    /// Never: what a client without retries sees.
    None,
}

impl Retry {
    /// How many times a call may be sent again.
    pub(crate) fn budget(self) -> usize {
        match self {
            Retry::Transparent => 1,
            Retry::None => 0,
        }
    }
}

/// Why a call the server never began did not go through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotBegun {
    /// Its stream was above the last one the server's GOAWAY said it would take.
    AboveGoaway = 0,
    /// The server refused its stream (RST_STREAM REFUSED_STREAM).
    RefusedStream = 1,
    /// It was sent on a reused HTTP/1.1 keep-alive connection that closed before a byte of
    /// the reply came: the server had closed it as the request went out.
    KeepAliveClosed = 2,
    /// Its connection was already closed or going away when it was to be sent: it never left
    /// the client, and goes on another connection without counting as a retry.
    ConnectionGone = 3,
}

impl NotBegun {
    /// The kinds a retry is counted under, in the order of their discriminants.
    pub const RETRIED: [NotBegun; 3] =
        [NotBegun::AboveGoaway, NotBegun::RefusedStream, NotBegun::KeepAliveClosed];

    /// Its name in the JSON's `retried`.
    pub fn name(self) -> &'static str {
        match self {
            NotBegun::AboveGoaway => "above GOAWAY",
            NotBegun::RefusedStream => "REFUSED_STREAM",
            NotBegun::KeepAliveClosed => "keep-alive closed",
            NotBegun::ConnectionGone => "connection gone",
        }
    }
}

impl From<tonic::Status> for CallError {
    fn from(status: tonic::Status) -> Self {
        Self::Grpc { code: status.code(), message: status.message().to_owned() }
    }
}

/// The server that answered a call, from its `x-served-by` header (`None` when it sent none).
pub type ServedBy = Option<http::HeaderValue>;

impl CallError {
    /// What kind of failure it is, for counting failures by kind: `gRPC UNAVAILABLE`,
    /// `REST 503`, `transport`, `wrong reply`.
    pub fn kind(&self) -> String {
        match self {
            Self::Grpc { code, .. } => format!("gRPC {code:?}"),
            Self::Rest { status, .. } => format!("REST {}", status.as_u16()),
            Self::Transport(_) | Self::Unreachable(_) | Self::NotBegun { .. } => "transport".into(),
            Self::WrongReply(_) => "wrong reply".into(),
            Self::CannotCarry => "cannot carry".into(),
        }
    }

    /// A transport failure, from whatever error the transport gives.
    pub(crate) fn transport(context: &str, error: impl std::fmt::Display) -> Self {
        Self::Transport(format!("{context}: {error}"))
    }

    /// A transport failure with every cause the error carries: hyper's errors say only what
    /// failed ("error reading a body from connection"), their causes why (the peer's GOAWAY and
    /// its reason).
    pub(crate) fn transport_with_causes(context: &str, error: impl std::error::Error) -> Self {
        let mut text = format!("{context}: {error}");
        let mut cause = error.source();
        while let Some(error) = cause {
            text.push_str(&format!(": {error}"));
            cause = error.source();
        }
        Self::Transport(text)
    }

    /// Whether the server said it has no such method or route (UNIMPLEMENTED, 404, 405, or
    /// 501, which a gateway in front of gRPC answers for UNIMPLEMENTED), or does not speak the
    /// cell's media type (415: a gRPC server asked for Connect).
    pub fn is_not_served(&self) -> bool {
        match self {
            Self::Grpc { code, .. } => *code == tonic::Code::Unimplemented,
            Self::Rest { status, .. } => {
                matches!(
                    *status,
                    http::StatusCode::NOT_FOUND
                        | http::StatusCode::METHOD_NOT_ALLOWED
                        | http::StatusCode::UNSUPPORTED_MEDIA_TYPE
                        | http::StatusCode::NOT_IMPLEMENTED
                )
            }
            Self::Transport(_)
            | Self::Unreachable(_)
            | Self::WrongReply(_)
            | Self::CannotCarry
            | Self::NotBegun { .. } => false,
        }
    }
}

/// The replies a workload's calls must get: the domain's own greetings for [`NAME`] (unary,
/// chat and stream) or for the batch's names, or the payload as the domain sends it back.
#[derive(Debug, Clone)]
pub struct Expected {
    hello: String,
    stream: Vec<String>,
    batch: Vec<String>,
    complex: Option<ComplexReply>,
    people: Option<PeopleReply>,
}

impl Expected {
    pub fn of(workload: &Workload) -> Self {
        let greeter = Greeter::new();
        let valid = "the comparison's own requests are valid";
        let hello = greeter.say_hello(NAME).expect(valid);
        let mut expected =
            Self { hello, stream: Vec::new(), batch: Vec::new(), complex: None, people: None };
        // Every variant named: a new workload fails to compile until its reply is said here.
        match workload {
            Workload::Unary | Workload::Chat(_) => {}
            Workload::Stream(count) => {
                expected.stream =
                    greeter.say_hello_stream(NAME, Some(*count)).expect(valid).collect();
            }
            Workload::Batch(names) => {
                expected.batch = greeter.say_hello_batch(names).expect(valid);
            }
            Workload::Complex(request) => {
                let complex = proto::complex_from_wire(request.as_ref().clone()).expect(valid);
                let complex = greeter.echo_complex(complex).expect(valid);
                expected.complex =
                    Some(ComplexReply { response: Some(proto::complex_to_wire(complex)) });
            }
            Workload::Records(request) => {
                let people = proto::people_from_wire(request.people.clone()).expect(valid);
                let people = greeter.echo_people(people).expect(valid);
                expected.people = Some(PeopleReply { people: proto::people_to_wire(people) });
            }
        }
        expected
    }

    pub(crate) fn complex(&self, reply: &ComplexReply) -> Result<(), CallError> {
        Self::same(self.complex.as_ref(), reply, "complex message")
    }

    pub(crate) fn people(&self, reply: &PeopleReply) -> Result<(), CallError> {
        Self::same(self.people.as_ref(), reply, "people")
    }

    fn same<T: PartialEq>(expected: Option<&T>, reply: &T, what: &str) -> Result<(), CallError> {
        match expected {
            Some(expected) if expected == reply => Ok(()),
            Some(_) => Err(CallError::WrongReply(format!("the {what} came back changed"))),
            None => Err(CallError::WrongReply(format!("a {what} this workload did not send"))),
        }
    }

    pub(crate) fn hello(&self, message: &str) -> Result<(), CallError> {
        if message == self.hello {
            Ok(())
        } else {
            Err(CallError::WrongReply(format!("{message:?}, not {:?}", self.hello)))
        }
    }

    pub(crate) fn stream<'a>(
        &self,
        messages: impl ExactSizeIterator<Item = &'a str>,
    ) -> Result<(), CallError> {
        Self::in_order(&self.stream, messages, "streamed greetings")
    }

    pub(crate) fn batch<'a>(
        &self,
        messages: impl ExactSizeIterator<Item = &'a str>,
    ) -> Result<(), CallError> {
        Self::in_order(&self.batch, messages, "batch replies")
    }

    fn in_order<'a>(
        expected: &[String],
        messages: impl ExactSizeIterator<Item = &'a str>,
        what: &str,
    ) -> Result<(), CallError> {
        if messages.len() != expected.len() {
            let wrong = format!("{} {what}, {} expected", messages.len(), expected.len());
            return Err(CallError::WrongReply(wrong));
        }
        match messages.zip(expected).position(|(message, expected)| message != expected) {
            None => Ok(()),
            Some(i) => Err(CallError::WrongReply(format!("{what}: number {} is wrong", i + 1))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An error that says what failed, with a cause that says why, as hyper's do.
    #[derive(Debug)]
    struct ReadFailed(std::io::Error);

    impl std::fmt::Display for ReadFailed {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("error reading a body from connection")
        }
    }

    impl std::error::Error for ReadFailed {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn a_transport_failure_names_its_causes() {
        let cause = std::io::Error::other("the peer sent GOAWAY: too_many_data_frames");
        let CallError::Transport(text) =
            CallError::transport_with_causes("REST body", ReadFailed(cause))
        else {
            panic!("a transport failure");
        };
        assert_eq!(
            text,
            "REST body: error reading a body from connection: the peer sent GOAWAY: too_many_data_frames"
        );
    }

    #[test]
    fn replies_are_checked_against_the_domain() {
        let expected = Expected::of(&Workload::Stream(2));
        assert!(expected.hello(&Greeter::new().say_hello(NAME).unwrap()).is_ok());
        assert!(expected.hello("Hello Word").is_err());
        let stream: Vec<String> = Greeter::new().say_hello_stream(NAME, Some(2)).unwrap().collect();
        assert!(expected.stream(stream.iter().map(String::as_str)).is_ok());
        assert!(expected.stream(stream.iter().rev().map(String::as_str)).is_err());
        assert!(expected.stream(stream[..1].iter().map(String::as_str)).is_err());
    }

    #[test]
    fn a_payload_must_come_back_unchanged() {
        let workload = Workload::records(3);
        let expected = Expected::of(&workload);
        let Workload::Records(request) = &workload else { unreachable!() };
        let mut reply = PeopleReply { people: request.people.clone() };
        assert!(expected.people(&reply).is_ok());
        reply.people[2].labels.insert("extra".into(), String::new());
        assert!(expected.people(&reply).is_err());
        assert!(expected.complex(&ComplexReply::default()).is_err());
    }
}
