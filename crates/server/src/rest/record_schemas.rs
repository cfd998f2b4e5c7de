//! The OpenAPI schemas of the payload echoes' messages (`EchoComplex`, `EchoPeople`), in their
//! proto3 JSON form: int64 as a decimal string, bytes as base64, a timestamp as RFC 3339 text,
//! an enum by its name, field names in lowerCamelCase. Each schema admits what the server
//! accepts and the domain keeps (the contract test sends what a schema allows and expects a
//! success), and describes what the server writes back. The examples are written by the
//! same serializer the server uses, from messages the domain accepts.

use serde_json::{Value, json};
use utoipa::openapi::{RefOr, Schema, extensions::Extensions};

use contract::{
    greeter::{MAX_AVATAR_BYTES, MAX_LABELS, MAX_RECORDS, MAX_TAGS},
    proto::{Address, ComplexReply, ComplexRequest, PeopleReply, PeopleRequest, Person, Pet},
};

/// The schemas, by name, for the document's components.
pub(super) fn schemas() -> Vec<(String, RefOr<Schema>)> {
    let complex_request = complex_request();
    let people_request = people_request();
    vec![
        schema("Int64", int64()),
        schema("Pet", pet()),
        with_one_of_choice(schema("ComplexRequest", complex_request_schema(&complex_request))),
        schema(
            "ComplexReply",
            json!({
                "type": "object",
                "description": "helloworld.ComplexReply: the request, as the server read it",
                "properties": {"response": {"$ref": "#/components/schemas/ComplexRequest"}},
                "required": ["response"],
                "additionalProperties": false,
                "examples": [example(&ComplexReply { response: Some(complex_request) })],
            }),
        ),
        schema("Address", address()),
        schema("Person", person()),
        schema(
            "PeopleRequest",
            json!({
                "type": "object",
                "description": format!(
                    "helloworld.PeopleRequest: 1 to {MAX_RECORDS} people, sent back in order"
                ),
                "properties": {"people": people_list()},
                "required": ["people"],
                "additionalProperties": false,
                "examples": [example(&people_request)],
            }),
        ),
        schema(
            "PeopleReply",
            json!({
                "type": "object",
                "description": "helloworld.PeopleReply: the people, as the server read them",
                "properties": {"people": people_list()},
                "required": ["people"],
                "additionalProperties": false,
                "examples": [example(&PeopleReply { people: people_request.people })],
            }),
        ),
    ]
}

/// The example request of `EchoComplex`, for the document and its operation.
pub(super) fn complex_request() -> ComplexRequest {
    ComplexRequest {
        name: "Ada".into(),
        d: 2.5,
        f: 0.25,
        b: true,
        n: -7,
        // Above 2^53: a JSON number would lose it, the decimal string does not.
        l: 9_007_199_254_740_993,
        choice: Some(contract::proto::complex_request::Choice::C1("text".into())),
        pets: vec![Pet { name: "Rex".into(), color: contract::proto::pet::Color::Green.into() }],
    }
}

/// The example request of `EchoPeople`.
pub(super) fn people_request() -> PeopleRequest {
    PeopleRequest {
        people: vec![Person {
            id: 9_007_199_254_740_993,
            name: "Ada".into(),
            email: "ada@example.com".into(),
            role: contract::proto::person::Role::Admin.into(),
            created_at: Some(contract::proto::Timestamp { seconds: -14_182_940, nanos: 0 }),
            avatar: vec![0x89, b'P', b'N', b'G'],
            labels: [("team".to_owned(), "core".to_owned())].into(),
            address: Some(Address {
                street: "12 St James's Square".into(),
                city: "London".into(),
                postal_code: "SW1Y 4JH".into(),
                country: "GB".into(),
            }),
            tags: vec!["analyst".into()],
            score: 0.5,
        }],
    }
}

/// A message as the server writes it in JSON.
pub(super) fn example<T: serde::Serialize>(message: &T) -> Value {
    serde_json::to_value(message).expect("the examples serialize")
}

fn schema(name: &str, schema: Value) -> (String, RefOr<Schema>) {
    let schema: Schema = serde_json::from_value(schema).expect("the record schemas are valid");
    (name.to_owned(), RefOr::T(schema))
}

fn int64() -> Value {
    json!({
        "type": "string",
        "pattern": format!("^{}$", int64_pattern()),
        "description": "An int64, written as proto3 JSON writes it: a decimal string, since a \
            JSON number loses integers above 2^53 in many parsers. The server also reads a \
            JSON number.",
        "examples": ["9007199254740993"],
    })
}

fn pet() -> Value {
    json!({
        "type": "object",
        "description": "helloworld.Pet. A color left out is BLACK, the enum's zero (proto3 \
            JSON leaves out a field that holds its default).",
        "properties": {
            "name": {"$ref": "#/components/schemas/Name"},
            "color": {"type": "string", "enum": ["BLACK", "WHITE", "BLUE", "RED", "YELLOW", "GREEN"]},
        },
        "required": ["name"],
        "additionalProperties": false,
    })
}

/// grpc_bench's complex message. Its one-of (`c1` or `c2`) may hold one of the two at most:
/// JSON Schema says so with `not`, a keyword utoipa's schema type lacks (see
/// [`with_one_of_choice`]).
fn complex_request_schema(example_request: &ComplexRequest) -> Value {
    // `f` within ±3.4e38: a float beyond f32::MAX is infinite, which JSON cannot write back;
    // f32::MAX itself is written back as 3.4028235e38, a hair above it as a double.
    json!({
        "type": "object",
        "description": format!(
            "helloworld.ComplexRequest, grpc_bench's complex message: at most {MAX_RECORDS} \
             pets; `c1` and `c2` are a one-of, so at most one of them is set. Fields holding \
             their default (0, false, \"\") are left out of replies."
        ),
        "properties": {
            "name": {"$ref": "#/components/schemas/Name"},
            "d": {"type": "number", "description": "A double"},
            "f": {"type": "number", "minimum": -3.4e38, "maximum": 3.4e38, "description": "A float"},
            "b": {"type": "boolean"},
            "n": {"type": "integer", "minimum": i32::MIN, "maximum": i32::MAX, "description": "An int32"},
            "l": {"$ref": "#/components/schemas/Int64"},
            "c1": {"type": "string"},
            "c2": {"type": "boolean"},
            "pets": {
                "type": "array",
                "items": {"$ref": "#/components/schemas/Pet"},
                "maxItems": MAX_RECORDS,
            },
        },
        "required": ["name"],
        "additionalProperties": false,
        "examples": [example(example_request)],
    })
}

fn address() -> Value {
    let text = json!({"type": "string"});
    json!({
        "type": "object",
        "description": "helloworld.Address",
        "properties": {"street": text, "city": text, "postalCode": text, "country": text},
        "additionalProperties": false,
    })
}

fn person() -> Value {
    let max_avatar_chars = MAX_AVATAR_BYTES.div_ceil(3) * 4;
    json!({
        "type": "object",
        "description": "helloworld.Person, a record as real APIs send them. Fields holding \
            their default (0, \"\", empty) are left out of replies.",
        "properties": {
            "id": {
                "type": "string",
                "pattern": format!("^{}$", positive_int64_pattern()),
                "description": "A positive int64, as a decimal string (see Int64)",
            },
            "name": {"$ref": "#/components/schemas/Name"},
            "email": {"type": "string"},
            "role": {
                "type": "string",
                "enum": ["ROLE_UNSPECIFIED", "ROLE_READER", "ROLE_WRITER", "ROLE_ADMIN"],
            },
            "createdAt": {
                "type": "string",
                "format": "date-time",
                // Years 0001 to 9999, in UTC: what RFC 3339 and proto3 JSON can write.
                "pattern": r"^(000[1-9]|00[1-9]\d|0[1-9]\d{2}|[1-9]\d{3})-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|\+00:00)$",
                "description": "A google.protobuf.Timestamp, as RFC 3339 text in UTC",
            },
            "avatar": {
                "type": "string",
                "contentEncoding": "base64",
                // Standard base64 with padding, its last character canonical.
                "pattern": r"^([A-Za-z0-9+/]{4})*([A-Za-z0-9+/][AQgw]==|[A-Za-z0-9+/]{2}[AEIMQUYcgkosw048]=)?$",
                "maxLength": max_avatar_chars,
                "description": format!("At most {MAX_AVATAR_BYTES} bytes, as base64"),
            },
            "labels": {
                "type": "object",
                "additionalProperties": {"type": "string"},
                "maxProperties": MAX_LABELS,
                "description": format!("A map<string, string> of at most {MAX_LABELS} entries"),
            },
            "address": {"$ref": "#/components/schemas/Address"},
            "tags": {"type": "array", "items": {"type": "string"}, "maxItems": MAX_TAGS},
            "score": {"type": "number", "description": "A double"},
        },
        "required": ["id", "name"],
        "additionalProperties": false,
    })
}

fn people_list() -> Value {
    json!({
        "type": "array",
        "items": {"$ref": "#/components/schemas/Person"},
        "minItems": 1,
        "maxItems": MAX_RECORDS,
    })
}

/// Adds the one-of rule of `ComplexRequest` (`c1` and `c2` never both) as a `not` keyword,
/// kept beside the object's keys by its `Extensions` map, which utoipa writes flattened.
fn with_one_of_choice((name, mut schema): (String, RefOr<Schema>)) -> (String, RefOr<Schema>) {
    if let RefOr::T(Schema::Object(object)) = &mut schema {
        let both = json!({
            "properties": {"c1": {"type": "string"}, "c2": {"type": "boolean"}},
            "required": ["c1", "c2"],
        });
        object.extensions = Some(Extensions::from_iter([("not", both)]));
    }
    (name, schema)
}

/// Decimal integers from -2^63 to 2^63 - 1, written without leading zeros.
fn int64_pattern() -> String {
    let magnitude = decimal_up_to(&i64::MAX.to_string());
    format!("(0|-?{magnitude}|-9223372036854775808)")
}

/// Decimal integers from 1 to 2^63 - 1, written without leading zeros, as one group.
fn positive_int64_pattern() -> String {
    decimal_up_to(&i64::MAX.to_string())
}

/// A pattern (one group) for the integers from 1 to `max` (in decimal, no leading zeros): every shorter
/// number, then, digit by digit, those of `max`'s length that first fall below it.
fn decimal_up_to(max: &str) -> String {
    let digits: Vec<u32> = max.chars().map(|c| c.to_digit(10).expect("a decimal")).collect();
    let len = digits.len();
    let mut alternatives = Vec::new();
    if len > 1 {
        alternatives.push(format!("[1-9][0-9]{{0,{}}}", len - 2));
    }
    for (position, &digit) in digits.iter().enumerate() {
        let lowest = u32::from(position == 0);
        if digit > lowest {
            let rest = len - position - 1;
            let tail = if rest > 0 { format!("[0-9]{{{rest}}}") } else { String::new() };
            alternatives.push(format!("{}[{lowest}-{}]{tail}", &max[..position], digit - 1));
        }
    }
    alternatives.push(max.to_owned());
    format!("({})", alternatives.join("|"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_int64_pattern_matches_exactly_the_canonical_int64_strings() {
        let pattern = regex::Regex::new(&format!("^{}$", int64_pattern())).unwrap();
        for value in
            [0, 1, -1, 9, 10, 99, 100, i64::MAX, i64::MIN, i64::MAX - 1, 9_007_199_254_740_993]
        {
            assert!(pattern.is_match(&value.to_string()), "{value}");
        }
        for text in [
            "9223372036854775808",
            "-9223372036854775809",
            "10000000000000000000",
            "9323372036854775807",
            "00",
            "01",
            "-0",
            "+1",
            "",
            "1.0",
        ] {
            assert!(!pattern.is_match(text), "{text}");
        }
        // Every number of the form d·10^k around the bounds, against Rust's own parse.
        for digits in 1..=20 {
            for lead in 1..=9u32 {
                let text = format!("{lead}{}", "0".repeat(digits - 1));
                let fits = text.parse::<i64>().is_ok();
                assert_eq!(pattern.is_match(&text), fits, "{text}");
            }
        }
    }

    #[test]
    fn the_positive_pattern_refuses_zero_and_negatives() {
        let pattern = regex::Regex::new(&format!("^{}$", positive_int64_pattern())).unwrap();
        assert!(pattern.is_match("1") && pattern.is_match(&i64::MAX.to_string()));
        assert!(!pattern.is_match("0") && !pattern.is_match("-1"));
    }

    #[test]
    fn the_examples_are_what_the_server_accepts() {
        let greeter = contract::greeter::Greeter::new();
        let complex = contract::proto::complex_from_wire(complex_request()).unwrap();
        assert!(greeter.echo_complex(complex).is_ok());
        let people = contract::proto::people_from_wire(people_request().people).unwrap();
        assert!(greeter.echo_people(people).is_ok());
        assert_eq!(example(&complex_request())["l"], "9007199254740993");
    }
}
