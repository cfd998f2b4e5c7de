//! The requests of the payload workloads: grpc_bench's complex message (`complex`) and lists
//! of N people (`records-N`), filled the way real records are (ids above 2^53, a timestamp
//! with milliseconds, a 64-byte signature, three labels), so that each type whose proto3
//! JSON costs the most is in every call. Deterministic: every run sends the same bytes.

use contract::proto::{
    Address, ComplexRequest, PeopleRequest, Person, Pet, Timestamp, complex_request::Choice,
    person::Role, pet::Color,
};

/// grpc_bench's complex request, with its values.
pub fn complex() -> ComplexRequest {
    ComplexRequest {
        name: "complex".into(),
        d: 1234.5678,
        f: 2.75,
        b: true,
        n: 42,
        l: 9_007_199_254_740_993,
        choice: Some(Choice::C1("choice one".into())),
        pets: [("Rex", Color::Black), ("Tom", Color::White), ("Nemo", Color::Yellow)]
            .into_iter()
            .map(|(name, color)| Pet { name: name.into(), color: color.into() })
            .collect(),
    }
}

/// `count` people, each different.
pub fn people(count: usize) -> PeopleRequest {
    PeopleRequest { people: (0..count).map(person).collect() }
}

fn person(index: usize) -> Person {
    let i = i64::try_from(index).expect("a small index");
    let roles = [Role::Reader, Role::Writer, Role::Admin];
    Person {
        id: 9_007_199_254_740_993 + i,
        name: format!("Person {index:04}"),
        email: format!("person{index:04}@example.com"),
        role: roles[index % roles.len()].into(),
        created_at: Some(Timestamp {
            seconds: 1_700_000_000 + i * 3_600,
            nanos: i32::try_from(index % 1000).expect("below 1000") * 1_000_000,
        }),
        // The size of an Ed25519 signature.
        avatar: (0..64u8).map(|b| b.wrapping_mul(31).wrapping_add(index as u8)).collect(),
        labels: [("team", "core"), ("region", "eu-west-1"), ("tier", "gold")]
            .into_iter()
            .map(|(key, value)| (key.to_owned(), value.to_owned()))
            .collect(),
        address: Some(Address {
            street: format!("{} Market Street", index + 1),
            city: "San Francisco".into(),
            postal_code: "94103".into(),
            country: "US".into(),
        }),
        tags: vec!["customer".into(), "beta".into()],
        score: index as f64 * 0.37 + 0.5,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use contract::greeter::Greeter;

    #[test]
    fn the_payloads_are_valid_and_distinct() {
        let greeter = Greeter::new();
        let complex = contract::proto::complex_from_wire(complex()).unwrap();
        assert!(greeter.echo_complex(complex).is_ok());
        let request = people(contract::greeter::MAX_RECORDS);
        let people = contract::proto::people_from_wire(request.people.clone()).unwrap();
        assert!(greeter.echo_people(people).is_ok());
        assert_ne!(request.people[0], request.people[1]);
    }
}
