//! HPACK decoding (RFC 7541) of the server's header blocks, which use the dynamic table and
//! Huffman coding as they like: the static table, a dynamic table as big as this client allows
//! (the default 4,096 bytes), integers, literals, table size updates. Fields are handed to a
//! callback as slices, without a copy but for Huffman-coded strings (decoded by
//! `httlib-huffman`'s table-driven decoder) and the entries the table keeps.

use std::collections::VecDeque;

/// The static table (RFC 7541, Appendix A): names, and the values of its full entries.
pub(crate) const STATIC: [(&str, &str); 61] = [
    (":authority", ""),
    (":method", "GET"),
    (":method", "POST"),
    (":path", "/"),
    (":path", "/index.html"),
    (":scheme", "http"),
    (":scheme", "https"),
    (":status", "200"),
    (":status", "204"),
    (":status", "206"),
    (":status", "304"),
    (":status", "400"),
    (":status", "404"),
    (":status", "500"),
    ("accept-charset", ""),
    ("accept-encoding", "gzip, deflate"),
    ("accept-language", ""),
    ("accept-ranges", ""),
    ("accept", ""),
    ("access-control-allow-origin", ""),
    ("age", ""),
    ("allow", ""),
    ("authorization", ""),
    ("cache-control", ""),
    ("content-disposition", ""),
    ("content-encoding", ""),
    ("content-language", ""),
    ("content-length", ""),
    ("content-location", ""),
    ("content-range", ""),
    ("content-type", ""),
    ("cookie", ""),
    ("date", ""),
    ("etag", ""),
    ("expect", ""),
    ("expires", ""),
    ("from", ""),
    ("host", ""),
    ("if-match", ""),
    ("if-modified-since", ""),
    ("if-none-match", ""),
    ("if-range", ""),
    ("if-unmodified-since", ""),
    ("last-modified", ""),
    ("link", ""),
    ("location", ""),
    ("max-forwards", ""),
    ("proxy-authenticate", ""),
    ("proxy-authorization", ""),
    ("range", ""),
    ("referer", ""),
    ("refresh", ""),
    ("retry-after", ""),
    ("server", ""),
    ("set-cookie", ""),
    ("strict-transport-security", ""),
    ("transfer-encoding", ""),
    ("user-agent", ""),
    ("vary", ""),
    ("via", ""),
    ("www-authenticate", ""),
];

/// What the dynamic table charges an entry beyond its name and value (RFC 7541 §4.1).
const ENTRY_OVERHEAD: usize = 32;

/// Why a header block does not decode: a connection error (COMPRESSION_ERROR).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum HpackError {
    #[error("a header block that ends inside a field")]
    Truncated,
    #[error("an integer too large for a header block")]
    Overflow,
    #[error("a field index {0} beyond both tables")]
    BadIndex(usize),
    #[error("a table size update to {0} bytes, over the {1} allowed")]
    TableTooLarge(usize, usize),
    #[error("a Huffman-coded string that does not decode")]
    Huffman,
}

/// A dynamic table entry: its name and value.
type Entry = (Box<[u8]>, Box<[u8]>);

/// One connection's decoder: its dynamic table, newest entry first.
#[derive(Debug)]
pub(crate) struct Decoder {
    table: VecDeque<Entry>,
    size: usize,
    max_size: usize,
    /// The most the server may set `max_size` to: what this client allows (SETTINGS).
    allowed: usize,
    names: Vec<u8>,
    values: Vec<u8>,
}

impl Decoder {
    pub(crate) fn new(allowed: usize) -> Self {
        Self {
            table: VecDeque::new(),
            size: 0,
            max_size: allowed,
            allowed,
            names: Vec::new(),
            values: Vec::new(),
        }
    }

    /// Decodes a whole header block, each field in order through `field(name, value)`.
    pub(crate) fn decode(
        &mut self,
        mut block: &[u8],
        mut field: impl FnMut(&[u8], &[u8]),
    ) -> Result<(), HpackError> {
        while let Some(&first) = block.first() {
            if first & 0x80 != 0 {
                let index = integer(&mut block, 7)?;
                let (name, value) = entry(&self.table, index)?;
                field(name, value);
            } else if first & 0xe0 == 0x20 {
                let size = integer(&mut block, 5)?;
                if size > self.allowed {
                    return Err(HpackError::TableTooLarge(size, self.allowed));
                }
                self.max_size = size;
                self.evict(0);
            } else {
                let (prefix, keep) = if first & 0x40 != 0 { (6, true) } else { (4, false) };
                let index = integer(&mut block, prefix)?;
                let name_huffman = index == 0 && block.first().is_some_and(|b| b & 0x80 != 0);
                let name: &[u8] = if index == 0 {
                    let raw = string(&mut block)?;
                    if name_huffman {
                        decode_huffman(raw, &mut self.names)?;
                        &self.names
                    } else {
                        raw
                    }
                } else {
                    // Copied: the table may change when this field is added to it.
                    let (name, _) = entry(&self.table, index)?;
                    self.names.clear();
                    self.names.extend_from_slice(name);
                    &self.names
                };
                let value_huffman = block.first().is_some_and(|b| b & 0x80 != 0);
                let raw = string(&mut block)?;
                let value: &[u8] = if value_huffman {
                    decode_huffman(raw, &mut self.values)?;
                    &self.values
                } else {
                    raw
                };
                field(name, value);
                if keep {
                    let entry = (Box::from(name), Box::from(value));
                    self.insert(entry);
                }
            }
        }
        Ok(())
    }

    fn insert(&mut self, (name, value): Entry) {
        let size = name.len() + value.len() + ENTRY_OVERHEAD;
        self.evict(size);
        if size <= self.max_size {
            self.size += size;
            self.table.push_front((name, value));
        }
    }

    /// Drops the oldest entries until `room` more bytes fit.
    fn evict(&mut self, room: usize) {
        while self.size + room > self.max_size {
            let Some((name, value)) = self.table.pop_back() else { break };
            self.size -= name.len() + value.len() + ENTRY_OVERHEAD;
        }
    }
}

/// The field at `index`: the static table's, then the dynamic table's (a free function, so
/// that a field's name can be copied into the decoder's scratch while the table is borrowed).
fn entry(table: &VecDeque<Entry>, index: usize) -> Result<(&[u8], &[u8]), HpackError> {
    match index {
        0 => Err(HpackError::BadIndex(0)),
        1..=61 => {
            let (name, value) = STATIC[index - 1];
            Ok((name.as_bytes(), value.as_bytes()))
        }
        _ => table
            .get(index - STATIC.len() - 1)
            .map(|(name, value)| (&name[..], &value[..]))
            .ok_or(HpackError::BadIndex(index)),
    }
}

/// An integer with an N-bit prefix (RFC 7541 §5.1), taken off the front of `block`.
fn integer(block: &mut &[u8], prefix: u8) -> Result<usize, HpackError> {
    let (&first, rest) = block.split_first().ok_or(HpackError::Truncated)?;
    *block = rest;
    let limit = (1usize << prefix) - 1;
    let mut value = usize::from(first) & limit;
    if value < limit {
        return Ok(value);
    }
    for shift in (0..28).step_by(7) {
        let (&byte, rest) = block.split_first().ok_or(HpackError::Truncated)?;
        *block = rest;
        value += usize::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(HpackError::Overflow)
}

/// A string's bytes as sent (its length's H bit read by the caller), taken off `block`.
fn string<'a>(block: &mut &'a [u8]) -> Result<&'a [u8], HpackError> {
    let length = integer(block, 7)?;
    if length > block.len() {
        return Err(HpackError::Truncated);
    }
    let (string, rest) = block.split_at(length);
    *block = rest;
    Ok(string)
}

fn decode_huffman(coded: &[u8], into: &mut Vec<u8>) -> Result<(), HpackError> {
    into.clear();
    httlib_huffman::decode(coded, into, httlib_huffman::DecoderSpeed::FourBits)
        .map_err(|_| HpackError::Huffman)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(decoder: &mut Decoder, block: &[u8]) -> Vec<(String, String)> {
        let mut fields = Vec::new();
        decoder
            .decode(block, |n, v| {
                fields.push((String::from_utf8_lossy(n).into(), String::from_utf8_lossy(v).into()))
            })
            .unwrap();
        fields
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect()
    }

    /// RFC 7541 C.4: three requests with Huffman coding, on one connection.
    #[test]
    fn decodes_the_rfcs_huffman_coded_requests() {
        let hex = |text: &str| -> Vec<u8> {
            let text: String = text.split_whitespace().collect();
            (0..text.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
                .collect()
        };
        let mut decoder = Decoder::new(4096);
        let first = hex("8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff");
        assert_eq!(
            fields(&mut decoder, &first),
            pairs(&[
                (":method", "GET"),
                (":scheme", "http"),
                (":path", "/"),
                (":authority", "www.example.com")
            ])
        );
        let second = hex("8286 84be 5886 a8eb 1064 9cbf");
        assert_eq!(
            fields(&mut decoder, &second),
            pairs(&[
                (":method", "GET"),
                (":scheme", "http"),
                (":path", "/"),
                (":authority", "www.example.com"),
                ("cache-control", "no-cache"),
            ])
        );
        let third = hex("8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf");
        assert_eq!(
            fields(&mut decoder, &third),
            pairs(&[
                (":method", "GET"),
                (":scheme", "https"),
                (":path", "/index.html"),
                (":authority", "www.example.com"),
                ("custom-key", "custom-value"),
            ])
        );
        assert_eq!(decoder.size, 164, "the table's size after C.4.3");
    }

    #[test]
    fn bad_blocks_are_errors_not_panics() {
        let mut decoder = Decoder::new(4096);
        assert_eq!(decoder.decode(&[0xbe], |_, _| ()), Err(HpackError::BadIndex(62)));
        assert_eq!(decoder.decode(&[0x80], |_, _| ()), Err(HpackError::BadIndex(0)));
        assert_eq!(decoder.decode(&[0x40, 0x05, b'a'], |_, _| ()), Err(HpackError::Truncated));
        assert_eq!(decoder.decode(&[0x3f, 0xe1, 0x1f], |_, _| ()), Ok(()), "4,096: allowed");
        let too_large = decoder.decode(&[0x3f, 0xe2, 0x1f], |_, _| ());
        assert_eq!(too_large, Err(HpackError::TableTooLarge(4097, 4096)));
        assert_eq!(
            decoder.decode(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff], |_, _| ()),
            Err(HpackError::Overflow)
        );
    }

    #[test]
    fn entries_are_evicted_oldest_first() {
        let mut decoder = Decoder::new(100);
        // Two literals with indexing, 32 + 1 + 30 bytes each: the second evicts the first.
        for value in ["a".repeat(30), "b".repeat(30)] {
            let mut block = vec![0x40, 0x01, b'x', value.len() as u8];
            block.extend_from_slice(value.as_bytes());
            decoder.decode(&block, |_, _| ()).unwrap();
        }
        assert_eq!(fields(&mut decoder, &[0xbe]), pairs(&[("x", &"b".repeat(30))]));
        assert_eq!(decoder.decode(&[0xbf], |_, _| ()), Err(HpackError::BadIndex(63)));
    }
}
