//! The request's header block, HPACK-encoded once per connection as a client that keeps its
//! dynamic table does (RFC 7541): the first request sends each field the static table lacks as
//! a literal that the server adds to its table, every later one sends the same fields as
//! one-byte indices. Two blocks, made before the first call and sent as they are.
//! Strings go without Huffman coding (allowed, and only the first block carries any).

use super::hpack::STATIC;

/// Where the dynamic table's entries begin.
const FIRST_DYNAMIC: usize = STATIC.len() + 1;

/// What an entry costs in the table: its name, its value and 32 (RFC 7541 §4.1).
const ENTRY_OVERHEAD: usize = 32;

/// The blocks of one request: the first, which fills the server's table, and the one every
/// later request on the connection sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HeaderBlocks {
    pub(crate) first: Vec<u8>,
    pub(crate) later: Vec<u8>,
}

/// Encodes `fields` for a server whose decoder table holds `table_size` bytes. Fields that do
/// not fit (with the others) are sent as literals the server does not keep, in every block.
pub(crate) fn encode(fields: &[(&str, &str)], table_size: usize) -> HeaderBlocks {
    let mut blocks = HeaderBlocks { first: Vec::new(), later: Vec::new() };
    let mut kept: Vec<usize> = Vec::new(); // positions in `fields` of the fields the table keeps
    let mut used = 0;
    for (position, &(name, value)) in fields.iter().enumerate() {
        if let Some(index) = STATIC.iter().position(|entry| *entry == (name, value)) {
            integer(&mut blocks.first, 0x80, 7, index + 1);
            continue;
        }
        let name_index = STATIC.iter().position(|(n, _)| *n == name).map_or(0, |i| i + 1);
        let size = name.len() + value.len() + ENTRY_OVERHEAD;
        if used + size <= table_size {
            used += size;
            kept.push(position);
            literal(&mut blocks.first, (0x40, 6), name_index, name, value);
        } else {
            literal(&mut blocks.first, (0x00, 4), name_index, name, value);
        }
    }
    // The later block: the same fields in the same order, each now in the table.
    for (position, &(name, value)) in fields.iter().enumerate() {
        if let Some(index) = STATIC.iter().position(|entry| *entry == (name, value)) {
            integer(&mut blocks.later, 0x80, 7, index + 1);
        } else if let Some(rank) = kept.iter().position(|&kept| kept == position) {
            // The newest entry has the lowest index.
            integer(&mut blocks.later, 0x80, 7, FIRST_DYNAMIC + kept.len() - 1 - rank);
        } else {
            let name_index = STATIC.iter().position(|(n, _)| *n == name).map_or(0, |i| i + 1);
            literal(&mut blocks.later, (0x00, 4), name_index, name, value);
        }
    }
    blocks
}

/// A literal field: its kind's bits, the static name's index (0: the name follows), the value.
fn literal(
    out: &mut Vec<u8>,
    (bits, prefix): (u8, u8),
    name_index: usize,
    name: &str,
    value: &str,
) {
    integer(out, bits, prefix, name_index);
    if name_index == 0 {
        string(out, name);
    }
    string(out, value);
}

/// A string without Huffman coding: its length (7-bit prefix), then its bytes.
fn string(out: &mut Vec<u8>, text: &str) {
    integer(out, 0x00, 7, text.len());
    out.extend_from_slice(text.as_bytes());
}

/// An integer with an N-bit prefix after the representation's `bits` (RFC 7541 §5.1).
fn integer(out: &mut Vec<u8>, bits: u8, prefix: u8, mut value: usize) {
    let limit = (1usize << prefix) - 1;
    if value < limit {
        out.push(bits | value as u8);
        return;
    }
    out.push(bits | limit as u8);
    value -= limit;
    while value >= 128 {
        out.push((value % 128) as u8 | 0x80);
        value /= 128;
    }
    out.push(value as u8);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clients::lean_h2::hpack::Decoder;

    const GRPC: [(&str, &str); 6] = [
        (":method", "POST"),
        (":scheme", "http"),
        (":path", "/helloworld.Greeter/SayHello"),
        (":authority", "127.0.0.1:50051"),
        ("content-type", "application/grpc"),
        ("te", "trailers"),
    ];

    /// What a server's decoder (loona-hpack's) reads from the first block and then the later
    /// ones, three times: the same fields every time.
    #[test]
    fn a_server_reads_the_same_fields_from_every_block() {
        let blocks = encode(&GRPC, 4096);
        let mut decoder = Decoder::new(4096);
        for block in [&blocks.first, &blocks.later, &blocks.later, &blocks.later] {
            let mut fields: Vec<(String, String)> = Vec::new();
            decoder
                .decode(block, |n, v| {
                    fields.push((
                        String::from_utf8(n.to_vec()).unwrap(),
                        String::from_utf8(v.to_vec()).unwrap(),
                    ))
                })
                .unwrap();
            let expected: Vec<(String, String)> =
                GRPC.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect();
            assert_eq!(fields, expected);
        }
        // :method and :scheme are static, the four others one byte each from the table.
        assert_eq!(blocks.later.len(), 6);
        assert!(blocks.first.len() > 60, "{}", blocks.first.len());
    }

    #[test]
    fn fields_the_table_cannot_hold_stay_literal() {
        let blocks = encode(&GRPC, 100);
        let mut decoder = Decoder::new(100);
        for block in [&blocks.first, &blocks.later] {
            let mut count = 0;
            decoder.decode(block, |_, _| count += 1).unwrap();
            assert_eq!(count, GRPC.len());
        }
        assert!(blocks.later.len() > 6);
        let none = encode(&GRPC, 0);
        assert_eq!(none.first, none.later);
    }

    #[test]
    fn integers_past_their_prefix_continue() {
        let mut out = Vec::new();
        integer(&mut out, 0x00, 5, 1337);
        assert_eq!(out, [31, 154, 10], "RFC 7541 C.1.2");
    }
}
