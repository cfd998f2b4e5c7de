//! The payload messages translated to the domain's records and back, for both adapters: the
//! only place that knows the domain's `Color` is `Pet.Color` on the wire. Strings, bytes and
//! maps move rather than copy, so a call pays for the translation the same on every protocol.

use crate::greeter::{
    DomainError,
    records::{
        Address as DomainAddress, Choice, Color, Complex, Person as DomainPerson, Pet as DomainPet,
        Role, Timestamp,
    },
};

use super::{Address, ComplexRequest, Person, Pet, complex_request, person, pet};

/// A complex request as the domain's [`Complex`]; an unknown pet color is refused by name.
pub fn complex_from_wire(request: ComplexRequest) -> Result<Complex, DomainError> {
    let pets = request
        .pets
        .into_iter()
        .enumerate()
        .map(|(index, pet)| {
            let color = match pet::Color::try_from(pet.color) {
                Ok(pet::Color::Black) => Color::Black,
                Ok(pet::Color::White) => Color::White,
                Ok(pet::Color::Blue) => Color::Blue,
                Ok(pet::Color::Red) => Color::Red,
                Ok(pet::Color::Yellow) => Color::Yellow,
                Ok(pet::Color::Green) => Color::Green,
                Err(_) => {
                    let unknown =
                        DomainError::UnknownEnumValue { field: "color", value: pet.color };
                    return Err(DomainError::in_entry("pets", index, unknown));
                }
            };
            Ok(DomainPet { name: pet.name, color })
        })
        .collect::<Result<_, _>>()?;
    let choice = request.choice.map(|choice| match choice {
        complex_request::Choice::C1(text) => Choice::Text(text),
        complex_request::Choice::C2(flag) => Choice::Flag(flag),
    });
    Ok(Complex {
        name: request.name,
        d: request.d,
        f: request.f,
        b: request.b,
        n: request.n,
        l: request.l,
        choice,
        pets,
    })
}

pub fn complex_to_wire(complex: Complex) -> ComplexRequest {
    let pets = complex
        .pets
        .into_iter()
        .map(|pet| {
            let color = match pet.color {
                Color::Black => pet::Color::Black,
                Color::White => pet::Color::White,
                Color::Blue => pet::Color::Blue,
                Color::Red => pet::Color::Red,
                Color::Yellow => pet::Color::Yellow,
                Color::Green => pet::Color::Green,
            };
            Pet { name: pet.name, color: color.into() }
        })
        .collect();
    let choice = complex.choice.map(|choice| match choice {
        Choice::Text(text) => complex_request::Choice::C1(text),
        Choice::Flag(flag) => complex_request::Choice::C2(flag),
    });
    ComplexRequest {
        name: complex.name,
        d: complex.d,
        f: complex.f,
        b: complex.b,
        n: complex.n,
        l: complex.l,
        choice,
        pets,
    }
}

/// People as the domain's [`DomainPerson`]s; an unknown role is refused by name.
pub fn people_from_wire(people: Vec<Person>) -> Result<Vec<DomainPerson>, DomainError> {
    people
        .into_iter()
        .enumerate()
        .map(|(index, person)| {
            person_from_wire(person)
                .map_err(|source| DomainError::in_entry("people", index, source))
        })
        .collect()
}

fn person_from_wire(person: Person) -> Result<DomainPerson, DomainError> {
    let role = match person::Role::try_from(person.role) {
        Ok(person::Role::Unspecified) => Role::Unspecified,
        Ok(person::Role::Reader) => Role::Reader,
        Ok(person::Role::Writer) => Role::Writer,
        Ok(person::Role::Admin) => Role::Admin,
        Err(_) => return Err(DomainError::UnknownEnumValue { field: "role", value: person.role }),
    };
    Ok(DomainPerson {
        id: person.id,
        name: person.name,
        email: person.email,
        role,
        created_at: person
            .created_at
            .map(|time| Timestamp { seconds: time.seconds, nanos: time.nanos }),
        avatar: person.avatar.into(),
        labels: person.labels,
        address: person.address.map(|address| DomainAddress {
            street: address.street,
            city: address.city,
            postal_code: address.postal_code,
            country: address.country,
        }),
        tags: person.tags,
        score: person.score,
    })
}

pub fn people_to_wire(people: Vec<DomainPerson>) -> Vec<Person> {
    people.into_iter().map(person_to_wire).collect()
}

fn person_to_wire(person: DomainPerson) -> Person {
    let role = match person.role {
        Role::Unspecified => person::Role::Unspecified,
        Role::Reader => person::Role::Reader,
        Role::Writer => person::Role::Writer,
        Role::Admin => person::Role::Admin,
    };
    Person {
        id: person.id,
        name: person.name,
        email: person.email,
        role: role.into(),
        created_at: person
            .created_at
            .map(|time| super::Timestamp { seconds: time.seconds, nanos: time.nanos }),
        avatar: person.avatar.into(),
        labels: person.labels,
        address: person.address.map(|address| Address {
            street: address.street,
            city: address.city,
            postal_code: address.postal_code,
            country: address.country,
        }),
        tags: person.tags,
        score: person.score,
    }
}
