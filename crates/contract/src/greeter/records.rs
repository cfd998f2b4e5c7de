//! The payload workloads' records: grpc_bench's "complex" message and a person record, as the
//! domain sees them, and the rules each must keep before it is sent back. The adapters
//! translate the wire messages into these types and back; nothing here knows how they travel.

use std::collections::BTreeMap;

use super::{
    DomainError, Name,
    limits::{
        MAX_AVATAR_BYTES, MAX_LABELS, MAX_RECORDS, MAX_TAGS, MAX_TIMESTAMP_SECONDS,
        MIN_TIMESTAMP_SECONDS,
    },
};

/// grpc_bench's complex request: scalars of every width, a one-of and a list of pets.
#[derive(Debug, Clone, PartialEq)]
pub struct Complex {
    pub name: String,
    pub d: f64,
    pub f: f32,
    pub b: bool,
    pub n: i32,
    pub l: i64,
    pub choice: Option<Choice>,
    pub pets: Vec<Pet>,
}

/// The complex request's one-of: a text or a flag.
#[derive(Debug, Clone, PartialEq)]
pub enum Choice {
    Text(String),
    Flag(bool),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Pet {
    pub name: String,
    pub color: Color,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Color {
    Black,
    White,
    Blue,
    Red,
    Yellow,
    Green,
}

/// A person, shaped as records in real APIs are: a 64-bit id, a timestamp, an enum, bytes, a
/// map, a nested address, a list and a double.
#[derive(Debug, Clone, PartialEq)]
pub struct Person {
    pub id: i64,
    pub name: String,
    pub email: String,
    pub role: Role,
    pub created_at: Option<Timestamp>,
    pub avatar: Vec<u8>,
    pub labels: BTreeMap<String, String>,
    pub address: Option<Address>,
    pub tags: Vec<String>,
    pub score: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Unspecified,
    Reader,
    Writer,
    Admin,
}

/// A moment as seconds and nanoseconds since 1970-01-01T00:00:00Z (negative before it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timestamp {
    pub seconds: i64,
    pub nanos: i32,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Address {
    pub street: String,
    pub city: String,
    pub postal_code: String,
    pub country: String,
}

/// Checks a complex request: its name and each pet's are names, its floating-point numbers
/// are finite (JSON has no infinity to send back), and it holds at most [`MAX_RECORDS`] pets.
pub(super) fn check_complex(complex: &Complex) -> Result<(), DomainError> {
    Name::check(&complex.name)?;
    if !complex.d.is_finite() {
        return Err(DomainError::NotFinite { field: "d" });
    }
    if !complex.f.is_finite() {
        return Err(DomainError::NotFinite { field: "f" });
    }
    check_count("pets", complex.pets.len(), false)?;
    for (index, pet) in complex.pets.iter().enumerate() {
        Name::check(&pet.name).map_err(|source| DomainError::in_entry("pets", index, source))?;
    }
    Ok(())
}

/// Checks a list of people: 1 to [`MAX_RECORDS`] of them, each valid.
pub(super) fn check_people(people: &[Person]) -> Result<(), DomainError> {
    check_count("people", people.len(), true)?;
    for (index, person) in people.iter().enumerate() {
        check_person(person).map_err(|source| DomainError::in_entry("people", index, source))?;
    }
    Ok(())
}

/// The rules in a fixed order (the order of the fields), so that a record breaking several
/// always gets the same error on every protocol.
fn check_person(person: &Person) -> Result<(), DomainError> {
    if person.id <= 0 {
        return Err(DomainError::NotPositive { field: "id", value: person.id });
    }
    Name::check(&person.name)?;
    if let Some(Timestamp { seconds, nanos }) = person.created_at {
        let in_range = (MIN_TIMESTAMP_SECONDS..=MAX_TIMESTAMP_SECONDS).contains(&seconds)
            && (0..1_000_000_000).contains(&nanos);
        if !in_range {
            return Err(DomainError::TimestampOutOfRange { field: "createdAt", seconds, nanos });
        }
    }
    if person.avatar.len() > MAX_AVATAR_BYTES {
        let len = person.avatar.len();
        return Err(DomainError::TooManyBytes { field: "avatar", len, max: MAX_AVATAR_BYTES });
    }
    if person.labels.len() > MAX_LABELS {
        let len = person.labels.len();
        return Err(DomainError::TooManyEntries { field: "labels", len, max: MAX_LABELS });
    }
    if person.tags.len() > MAX_TAGS {
        let len = person.tags.len();
        return Err(DomainError::TooManyEntries { field: "tags", len, max: MAX_TAGS });
    }
    if !person.score.is_finite() {
        return Err(DomainError::NotFinite { field: "score" });
    }
    Ok(())
}

fn check_count(field: &'static str, len: usize, at_least_one: bool) -> Result<(), DomainError> {
    if at_least_one && len == 0 {
        return Err(DomainError::NoEntries { field });
    }
    if len > MAX_RECORDS {
        return Err(DomainError::TooManyEntries { field, len, max: MAX_RECORDS });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn person(id: i64) -> Person {
        Person {
            id,
            name: "Ada".into(),
            email: "ada@example.com".into(),
            role: Role::Admin,
            created_at: Some(Timestamp { seconds: -1, nanos: 5 }),
            avatar: vec![0, 255],
            labels: BTreeMap::from([("team".into(), "core".into())]),
            address: Some(Address::default()),
            tags: vec!["a".into()],
            score: 0.5,
        }
    }

    #[test]
    fn a_valid_list_of_people_passes() {
        assert_eq!(check_people(&[person(1), person(i64::MAX)]), Ok(()));
    }

    #[test]
    fn each_broken_rule_names_the_entry_and_the_field() {
        type Breaks = fn(&mut Person);
        let cases: [(Breaks, &str); 6] = [
            (|p| p.id = 0, "people[1].id must be positive, got 0"),
            (|p| p.name = " ".into(), "people[1].name must not be empty"),
            (
                |p| p.created_at = Some(Timestamp { seconds: MAX_TIMESTAMP_SECONDS + 1, nanos: 0 }),
                "people[1].createdAt must lie between",
            ),
            (|p| p.avatar = vec![0; MAX_AVATAR_BYTES + 1], "people[1].avatar is 65537 bytes long"),
            (|p| p.tags = vec![String::new(); MAX_TAGS + 1], "people[1].tags holds 33 entries"),
            (|p| p.score = f64::NAN, "people[1].score must be a finite number"),
        ];
        for (breaks, message) in cases {
            let mut broken = person(2);
            breaks(&mut broken);
            let error = check_people(&[person(1), broken]).unwrap_err().to_string();
            assert!(error.starts_with(message), "{error:?} starts with {message:?}");
        }
    }

    #[test]
    fn the_list_holds_one_to_the_maximum() {
        assert_eq!(check_people(&[]), Err(DomainError::NoEntries { field: "people" }));
        let people = vec![person(1); MAX_RECORDS + 1];
        assert_eq!(
            check_people(&people).unwrap_err().to_string(),
            "people holds 1001 entries; at most 1000 are allowed"
        );
    }

    #[test]
    fn a_complex_request_checks_its_names() {
        let mut complex = Complex {
            name: "Ada".into(),
            d: 1.0,
            f: 2.0,
            b: true,
            n: 3,
            l: 4,
            choice: Some(Choice::Flag(true)),
            pets: vec![Pet { name: "Rex".into(), color: Color::Red }],
        };
        assert_eq!(check_complex(&complex), Ok(()));
        complex.f = f32::INFINITY;
        assert_eq!(check_complex(&complex), Err(DomainError::NotFinite { field: "f" }));
        complex.f = 0.0;
        complex.pets[0].name.clear();
        assert_eq!(
            check_complex(&complex).unwrap_err().to_string(),
            "pets[0].name must not be empty"
        );
    }
}
