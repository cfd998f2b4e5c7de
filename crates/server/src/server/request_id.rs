//! `x-request-id` on every request and its reply: the client's own when it is a usable one, or
//! a new UUID. Done by the port's front (see `layers::PortFront`) rather than tower-http's pair
//! (`SetRequestId` and `PropagateRequestId`), which formatted each UUID through `Display`, kept
//! a copy in the request's extensions as well as its headers, and so cost a request as much as
//! the rest of our per-call features together.

use http::{HeaderMap, HeaderName, HeaderValue};

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The longest request id a client may choose. Ids go into every log line of the request and
/// back on its reply, so an unbounded one would let a client inflate (or forge the look of)
/// our logs; anything longer, empty, or with other than visible ASCII is replaced.
pub const MAX_CLIENT_REQUEST_ID: usize = 128;

/// Makes sure the request carries a usable id, and returns the id for its reply.
pub(super) fn ensure_request_id(headers: &mut HeaderMap) -> HeaderValue {
    let mut id = match headers.get(&REQUEST_ID) {
        Some(id) if is_usable(id) => id.clone(),
        _ => {
            let id = new_request_id();
            headers.insert(REQUEST_ID, id.clone());
            id
        }
    };
    // Unique to each reply, so HTTP/2's header compression gains nothing by indexing it, and
    // searching and filling its table for it cost an HTTP/2 reply about 3,000 instructions:
    // sent as a literal, never indexed.
    id.set_sensitive(true);
    id
}

fn is_usable(id: &HeaderValue) -> bool {
    let id = id.as_bytes();
    !id.is_empty() && id.len() <= MAX_CLIENT_REQUEST_ID && id.iter().all(u8::is_ascii_graphic)
}

/// A new random (version 4) UUID, formatted straight into the header's bytes.
fn new_request_id() -> HeaderValue {
    let mut text = [0u8; uuid::fmt::Hyphenated::LENGTH];
    let text = uuid::Uuid::new_v4().hyphenated().encode_lower(&mut text);
    HeaderValue::from_str(text).expect("a UUID is a valid header value")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_ids_are_hyphenated_version_4_uuids() {
        let id = new_request_id();
        let parsed = uuid::Uuid::parse_str(id.to_str().unwrap()).unwrap();
        assert_eq!(parsed.get_version_num(), 4);
        assert_eq!(id.len(), 36);
        assert_ne!(new_request_id(), id);
    }

    #[test]
    fn a_clients_id_is_kept_only_while_short_and_visible_ascii() {
        for (sent, kept) in [
            ("abc-123".to_owned(), true),
            ("x".repeat(MAX_CLIENT_REQUEST_ID), true),
            ("x".repeat(MAX_CLIENT_REQUEST_ID + 1), false),
            ("two words".to_owned(), false),
            (String::new(), false),
        ] {
            let mut headers = HeaderMap::new();
            headers.insert(REQUEST_ID, HeaderValue::from_str(&sent).unwrap());
            let id = ensure_request_id(&mut headers);
            assert_eq!(id == sent.as_str(), kept, "{sent:?}");
            assert_eq!(headers[&REQUEST_ID], id, "the request carries the id its reply gets");
        }
    }
}
