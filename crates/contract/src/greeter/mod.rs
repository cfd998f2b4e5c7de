//! The Greeter domain: which names are valid and what a greeting says, for one name, a stream
//! of greetings or a batch; and which records the payload echoes accept and send back. It
//! knows nothing of HTTP, gRPC, JSON or protobuf; the adapters in
//! [`crate::grpc`] and [`crate::rest`] decode a request, call a method here, and encode what
//! it returns.

mod error;
mod limits;
mod name;
pub mod records;

pub use error::{DomainError, ErrorKind};
pub use limits::{
    DEFAULT_STREAM_COUNT, MAX_AVATAR_BYTES, MAX_BATCH_NAMES, MAX_LABELS, MAX_NAME_CHARS,
    MAX_RECORDS, MAX_STREAM_COUNT, MAX_TAGS, MAX_TIMESTAMP_SECONDS, MIN_TIMESTAMP_SECONDS,
};
pub use name::Name;
use records::{Complex, Person};

/// The greeter itself. It holds no state today; it is a type so that the adapters share one
/// handle and the domain can grow (an identity, a clock) without touching them.
#[derive(Debug, Clone, Default)]
pub struct Greeter;

impl Greeter {
    pub fn new() -> Self {
        Self
    }

    /// `SayHello`: "Hello {name}", as gRPC's own example server answers.
    pub fn say_hello(&self, raw_name: &str) -> Result<String, DomainError> {
        Name::parse(raw_name).map(|name| format!("Hello {name}"))
    }

    /// `SayHelloAgain`: "Hello again {name}".
    pub fn say_hello_again(&self, raw_name: &str) -> Result<String, DomainError> {
        Name::parse(raw_name).map(|name| format!("Hello again {name}"))
    }

    /// `SayHelloStreamReply`: `count` greetings (default [`DEFAULT_STREAM_COUNT`]), numbered
    /// from 1. Everything is validated before the first greeting, so a stream never starts
    /// only to fail half-way.
    pub fn say_hello_stream(
        &self,
        raw_name: &str,
        count: Option<u32>,
    ) -> Result<impl Iterator<Item = String> + Send + 'static, DomainError> {
        let name = Name::parse(raw_name)?;
        let count = count.unwrap_or(DEFAULT_STREAM_COUNT);
        if !(1..=MAX_STREAM_COUNT).contains(&count) {
            return Err(DomainError::StreamCountOutOfRange { count });
        }
        Ok((1..=count).map(move |i| format!("Hello {name}, greeting {i} of {count}")))
    }

    /// `SayHelloBatch`: one greeting per name, in order. One invalid name fails the whole
    /// batch and says which one it was.
    pub fn say_hello_batch<S: AsRef<str>>(
        &self,
        raw_names: &[S],
    ) -> Result<Vec<String>, DomainError> {
        if raw_names.is_empty() {
            return Err(DomainError::EmptyBatch);
        }
        if raw_names.len() > MAX_BATCH_NAMES {
            return Err(DomainError::BatchTooLarge { len: raw_names.len() });
        }
        raw_names
            .iter()
            .enumerate()
            .map(|(index, raw)| {
                self.say_hello(raw.as_ref()).map_err(|source| DomainError::InvalidBatchName {
                    index,
                    source: Box::new(source),
                })
            })
            .collect()
    }

    /// `EchoComplex`: grpc_bench's complex request, checked and sent back unchanged.
    pub fn echo_complex(&self, complex: Complex) -> Result<Complex, DomainError> {
        records::check_complex(&complex).map(|()| complex)
    }

    /// `EchoPeople`: 1 to [`MAX_RECORDS`] people, checked and sent back unchanged, in order.
    pub fn echo_people(&self, people: Vec<Person>) -> Result<Vec<Person>, DomainError> {
        records::check_people(&people).map(|()| people)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn say_hello_greets_the_trimmed_name() {
        assert_eq!(Greeter::new().say_hello("  Ada ").unwrap(), "Hello Ada");
    }

    #[test]
    fn say_hello_again_says_again() {
        assert_eq!(Greeter::new().say_hello_again("Ada").unwrap(), "Hello again Ada");
    }

    #[test]
    fn say_hello_rejects_an_invalid_name() {
        assert_eq!(Greeter::new().say_hello(" "), Err(DomainError::EmptyName));
    }

    #[test]
    fn stream_yields_count_numbered_greetings() {
        let greetings: Vec<_> = Greeter::new().say_hello_stream("Ada", Some(3)).unwrap().collect();
        assert_eq!(
            greetings,
            [
                "Hello Ada, greeting 1 of 3",
                "Hello Ada, greeting 2 of 3",
                "Hello Ada, greeting 3 of 3"
            ]
        );
    }

    #[test]
    fn stream_defaults_to_the_default_count() {
        let count = Greeter::new().say_hello_stream("Ada", None).unwrap().count();
        assert_eq!(count, DEFAULT_STREAM_COUNT as usize);
    }

    #[test]
    fn stream_accepts_the_bounds_and_rejects_beyond_them() {
        let greeter = Greeter::new();
        assert_eq!(greeter.say_hello_stream("Ada", Some(1)).unwrap().count(), 1);
        assert_eq!(
            greeter.say_hello_stream("Ada", Some(MAX_STREAM_COUNT)).unwrap().count(),
            MAX_STREAM_COUNT as usize
        );
        for count in [0, MAX_STREAM_COUNT + 1, u32::MAX] {
            assert_eq!(
                greeter.say_hello_stream("Ada", Some(count)).err(),
                Some(DomainError::StreamCountOutOfRange { count }),
                "count {count}"
            );
        }
    }

    #[test]
    fn stream_validates_the_name_before_the_count() {
        assert_eq!(
            Greeter::new().say_hello_stream("", Some(0)).err(),
            Some(DomainError::EmptyName)
        );
    }

    #[test]
    fn batch_greets_every_name_in_order() {
        assert_eq!(
            Greeter::new().say_hello_batch(&["Ada", "Grace"]).unwrap(),
            ["Hello Ada", "Hello Grace"]
        );
    }

    #[test]
    fn batch_accepts_the_largest_batch_and_rejects_one_more() {
        let greeter = Greeter::new();
        let names = vec!["n"; MAX_BATCH_NAMES];
        assert_eq!(greeter.say_hello_batch(&names).unwrap().len(), MAX_BATCH_NAMES);
        let names = vec!["n"; MAX_BATCH_NAMES + 1];
        assert_eq!(
            greeter.say_hello_batch(&names),
            Err(DomainError::BatchTooLarge { len: MAX_BATCH_NAMES + 1 })
        );
    }

    #[test]
    fn batch_rejects_an_empty_batch() {
        let none: [&str; 0] = [];
        assert_eq!(Greeter::new().say_hello_batch(&none), Err(DomainError::EmptyBatch));
    }

    #[test]
    fn batch_names_the_invalid_entry() {
        let error = Greeter::new().say_hello_batch(&["Ada", "", "Grace"]).unwrap_err();
        assert_eq!(
            error,
            DomainError::InvalidBatchName { index: 1, source: Box::new(DomainError::EmptyName) }
        );
        assert_eq!(error.to_string(), "names[1]: name must not be empty");
    }
}
