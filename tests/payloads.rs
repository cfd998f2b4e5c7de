//! The payload echoes (EchoComplex, EchoPeople) give the same answer over gRPC, REST JSON and
//! REST protobuf, edge values included (int64 beyond 2^53, empty and large bytes, moments
//! before 1970, a one-of set to its default, many map keys), and refuse bad input with the
//! same status on every protocol, naming the field (a map key given twice included).

mod common;

use common::{TestServer, http1};
use contract::proto::{
    Address, ComplexReply, ComplexRequest, PeopleReply, PeopleRequest, Person, Pet, Timestamp,
    complex_request::Choice, person::Role,
};
use prost::Message;
use serde_json::{Value, json};

const PROTOBUF: &str = "application/x-protobuf";

fn person(id: i64) -> Person {
    Person {
        id,
        name: "Ada".into(),
        email: "ada@example.com".into(),
        role: Role::Admin.into(),
        created_at: Some(Timestamp { seconds: -14_182_940, nanos: 1 }),
        avatar: vec![0, 1, 254, 255],
        labels: (0..32).map(|i| (format!("key-{i:02}"), format!("value {i}"))).collect(),
        address: Some(Address {
            street: "12 St James's Square".into(),
            city: "London".into(),
            postal_code: "SW1Y 4JH".into(),
            country: "GB".into(),
        }),
        tags: vec!["analyst".into(), "ζ".into()],
        score: -0.125,
    }
}

/// People at the edges of what the API takes.
fn people_cases() -> Vec<(&'static str, Vec<Person>)> {
    let mut empty = person(1);
    empty.avatar.clear();
    empty.labels.clear();
    empty.tags.clear();
    empty.address = None;
    empty.created_at = None;
    empty.role = Role::Unspecified.into();
    let mut large = person(2);
    large.avatar = (0..64 * 1024).map(|i| (i % 251) as u8).collect();
    let mut oldest = person(3);
    oldest.created_at = Some(Timestamp { seconds: -62_135_596_800, nanos: 0 });
    let mut precise = person(5);
    // A double whose shortest decimal form has 17 digits (1.6099999999999999): a JSON parser
    // that is not exact reads it back as 1.61.
    precise.score = 0.37 * 3.0 + 0.5;
    let mut latest = person(4);
    latest.created_at = Some(Timestamp { seconds: 253_402_300_799, nanos: 999_999_999 });
    vec![
        ("int64 beyond 2^53", vec![person(i64::MAX), person(9_007_199_254_740_993)]),
        ("defaults and empty bytes", vec![empty]),
        ("64 KiB of bytes", vec![large]),
        ("the first and last moments", vec![oldest, latest]),
        ("a double of 17 digits", vec![precise]),
        ("a hundred people", (1..=100).map(person).collect()),
    ]
}

async fn rest_json(server: &TestServer, path: &str, body: &Value) -> (u16, Value) {
    let response = http1().post(server.rest_url(path)).json(body).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

async fn rest_protobuf<M: Message + Default>(
    server: &TestServer,
    path: &str,
    request: &impl Message,
) -> Result<M, (u16, Value)> {
    let response = http1()
        .post(server.rest_url(path))
        .header("content-type", PROTOBUF)
        .header("accept", PROTOBUF)
        .body(request.encode_to_vec())
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let bytes = response.bytes().await.unwrap();
    if status == 200 {
        Ok(M::decode(bytes).unwrap())
    } else {
        Err((status, serde_json::from_slice(&bytes).unwrap()))
    }
}

#[tokio::test]
async fn echo_people_agrees_on_every_protocol_at_the_edges() {
    let server = TestServer::spawn().await;
    let mut grpc = server.grpc_client().await;
    for (case, people) in people_cases() {
        let request = PeopleRequest { people };
        let by_grpc = grpc.echo_people(request.clone()).await.unwrap().into_inner();
        assert_eq!(by_grpc.people, request.people, "{case}: gRPC sends the people back");

        let by_protobuf: PeopleReply =
            rest_protobuf(&server, "/v1/greeter/echo/people", &request).await.unwrap();
        assert_eq!(by_protobuf, by_grpc, "{case}: REST protobuf");

        let body = serde_json::to_value(&request).unwrap();
        let (status, by_json) = rest_json(&server, "/v1/greeter/echo/people", &body).await;
        assert_eq!(status, 200, "{case}: {by_json}");
        assert_eq!(by_json, json!({"people": body["people"]}), "{case}: REST JSON");
        let decoded: PeopleReply = serde_json::from_value(by_json).unwrap();
        assert_eq!(decoded, by_grpc, "{case}: REST JSON reads back as gRPC's reply");
    }
}

#[tokio::test]
async fn people_in_json_read_as_proto3_json_writes_them() {
    let server = TestServer::spawn().await;
    let body = json!({"people": [{
        "id": "9223372036854775807",
        "name": "Ada",
        "role": "ROLE_ADMIN",
        "createdAt": "1969-07-20T21:17:40.000000001+01:00",
        "avatar": "AAH+/w==",
        "labels": {"b": "2", "a": "1"},
        "address": {"postal_code": "SW1Y 4JH"},
        "score": 1e-3,
    }]});
    let response =
        http1().post(server.rest_url("/v1/greeter/echo/people")).json(&body).send().await.unwrap();
    assert_eq!(response.status(), 200);
    // int64 as a string, the moment in UTC with Z, bytes in base64, the map in key order, the
    // field names in lowerCamelCase whichever spelling came in, in the .proto's order.
    assert_eq!(
        response.text().await.unwrap(),
        concat!(
            r#"{"people":[{"id":"9223372036854775807","name":"Ada","role":"ROLE_ADMIN","#,
            r#""createdAt":"1969-07-20T20:17:40.000000001Z","avatar":"AAH+/w==","#,
            r#""labels":{"a":"1","b":"2"},"address":{"postalCode":"SW1Y 4JH"},"score":0.001}]}"#
        )
    );
    let mut grpc = server.grpc_client().await;
    let by_grpc = grpc
        .echo_people(serde_json::from_value::<PeopleRequest>(body).unwrap())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(by_grpc.people[0].created_at, Some(Timestamp { seconds: -14_182_940, nanos: 1 }));
    assert_eq!(by_grpc.people[0].avatar, [0, 1, 254, 255]);
}

#[tokio::test]
async fn echo_complex_agrees_on_every_protocol() {
    let server = TestServer::spawn().await;
    let mut grpc = server.grpc_client().await;
    let pets = |n: usize| -> Vec<Pet> {
        (0..n).map(|i| Pet { name: format!("pet {i}"), color: (i % 6) as i32 }).collect()
    };
    let cases = [
        ComplexRequest {
            name: "Ada".into(),
            d: -1.5e300,
            f: 3.25,
            b: true,
            n: i32::MIN,
            l: i64::MIN,
            // A one-of set to its default is still set, and must come back set.
            choice: Some(Choice::C2(false)),
            pets: pets(3),
        },
        ComplexRequest {
            name: "Zoë".into(),
            l: 9_007_199_254_740_993,
            choice: Some(Choice::C1(String::new())),
            pets: pets(1000),
            ..ComplexRequest::default()
        },
        ComplexRequest { name: "Ada".into(), ..ComplexRequest::default() },
    ];
    for request in cases {
        let expected = ComplexReply { response: Some(request.clone()) };
        let by_grpc = grpc.echo_complex(request.clone()).await.unwrap().into_inner();
        assert_eq!(by_grpc, expected);
        let by_protobuf: ComplexReply =
            rest_protobuf(&server, "/v1/greeter/echo/complex", &request).await.unwrap();
        assert_eq!(by_protobuf, expected);
        let body = serde_json::to_value(&request).unwrap();
        let (status, by_json) = rest_json(&server, "/v1/greeter/echo/complex", &body).await;
        assert_eq!(status, 200, "{by_json}");
        assert_eq!(by_json, json!({"response": body}));
        assert_eq!(serde_json::from_value::<ComplexReply>(by_json).unwrap(), expected);
    }
}

/// A rule a message breaks on every protocol: gRPC says INVALID_ARGUMENT and REST 400, with
/// the same message.
#[tokio::test]
async fn a_broken_rule_gets_the_same_error_on_every_protocol() {
    let server = TestServer::spawn().await;
    let mut grpc = server.grpc_client().await;
    let broken = |breaks: fn(&mut Person)| {
        let mut broken = person(2);
        breaks(&mut broken);
        PeopleRequest { people: vec![person(1), broken] }
    };
    let cases = [
        (broken(|p| p.role = 7), "people[1].role has no value numbered 7"),
        (broken(|p| p.id = 0), "people[1].id must be positive, got 0"),
        (broken(|p| p.name = " ".into()), "people[1].name must not be empty"),
        (broken(|p| p.avatar = vec![0; 64 * 1024 + 1]), "people[1].avatar is 65537 bytes long"),
        (
            broken(|p| p.created_at = Some(Timestamp { seconds: 253_402_300_800, nanos: 0 })),
            "people[1].createdAt must lie between",
        ),
        (
            broken(|p| p.created_at = Some(Timestamp { seconds: 0, nanos: -1 })),
            "people[1].createdAt must lie between",
        ),
        (broken(|p| p.score = f64::NAN), "people[1].score must be a finite number"),
        (PeopleRequest { people: vec![] }, "people must hold at least one entry"),
    ];
    for (request, message) in cases {
        let status = grpc.echo_people(request.clone()).await.unwrap_err();
        assert_eq!(status.code(), tonic::Code::InvalidArgument, "{message}");
        assert!(status.message().starts_with(message), "gRPC: {:?}", status.message());
        let (code, body) =
            rest_protobuf::<PeopleReply>(&server, "/v1/greeter/echo/people", &request)
                .await
                .unwrap_err();
        assert_eq!(code, 400, "{body}");
        assert_eq!(body["error"]["status"], "INVALID_ARGUMENT");
        assert_eq!(body["error"]["message"], status.message(), "REST protobuf");
    }
    let unknown_color = ComplexRequest {
        name: "Ada".into(),
        pets: vec![Pet { name: "Rex".into(), color: 9 }],
        ..ComplexRequest::default()
    };
    let status = grpc.echo_complex(unknown_color.clone()).await.unwrap_err();
    assert_eq!(status.message(), "pets[0].color has no value numbered 9");
    let (code, body) =
        rest_protobuf::<ComplexReply>(&server, "/v1/greeter/echo/complex", &unknown_color)
            .await
            .unwrap_err();
    assert_eq!((code, body["error"]["message"].as_str()), (400, Some(status.message())));
}

/// JSON a proto3 JSON parser refuses: a 400 in the error shape, naming the field.
#[tokio::test]
async fn bad_json_gets_a_400_naming_the_field() {
    let server = TestServer::spawn().await;
    let people = |person: Value| json!({"people": [{"id": "1", "name": "Ada"}, person]});
    let cases = [
        (people(json!({"id": "1.5", "name": "Ada"})), "people[1].id"),
        (people(json!({"id": "ten", "name": "Ada"})), "people[1].id"),
        (people(json!({"id": "9223372036854775808", "name": "Ada"})), "people[1].id"),
        (people(json!({"id": "1", "name": "Ada", "avatar": "not base64!"})), "people[1].avatar"),
        (
            people(json!({"id": "1", "name": "Ada", "createdAt": "10000-01-01T00:00:00Z"})),
            "people[1].createdAt",
        ),
        (
            people(json!({"id": "1", "name": "Ada", "createdAt": "yesterday"})),
            "people[1].createdAt",
        ),
        (people(json!({"id": "1", "name": "Ada", "role": "ROLE_KING"})), "people[1].role"),
        (people(json!({"id": "1", "name": "Ada", "role": 7})), "people[1].role"),
        (people(json!({"id": "1", "name": "Ada", "labels": {"a": 1}})), "people[1].labels"),
        (people(json!({"id": "1", "name": "Ada", "nickname": "A"})), "people[1]"),
    ];
    for (body, field) in cases {
        let (status, reply) = rest_json(&server, "/v1/greeter/echo/people", &body).await;
        assert_eq!(status, 400, "{body}: {reply}");
        assert_eq!(reply["error"]["status"], "INVALID_ARGUMENT");
        let message = reply["error"]["message"].as_str().unwrap();
        assert!(message.starts_with(&format!("invalid JSON body at {field}")), "{body}: {message}");
    }
    let (status, reply) = rest_json(
        &server,
        "/v1/greeter/echo/complex",
        &json!({"name": "Ada", "c1": "text", "c2": true}),
    )
    .await;
    assert_eq!(status, 400, "{reply}");
    // A map with a key given twice (text: a JSON value cannot hold it).
    let response = http1()
        .post(server.rest_url("/v1/greeter/echo/people"))
        .header("content-type", "application/json")
        .body(r#"{"people": [{"id": "1", "name": "Ada", "labels": {"a": "1", "a": "2"}}]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let reply: Value = response.json().await.unwrap();
    let message = reply["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with(r#"invalid JSON body at people[0].labels: duplicate key "a""#),
        "{message}"
    );
    // The server still serves everyone else.
    let body = json!({"people": [{"id": "1", "name": "Ada"}]});
    let (status, reply) = rest_json(&server, "/v1/greeter/echo/people", &body).await;
    assert_eq!((status, reply), (200, body));
}
