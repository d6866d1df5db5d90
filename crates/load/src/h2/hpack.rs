//! HPACK decoding (RFC 7541) for a client that asks for no dynamic table.
//!
//! The engine sends SETTINGS_HEADER_TABLE_SIZE = 0 before any request, so
//! a server's response header blocks may refer only to the static table
//! (Appendix A); a block that inserts an entry keeps nothing (an entry
//! larger than the table's size empties it, §4.4), and one that refers to
//! a dynamic entry is a compression error. Of each response the engine
//! reads only `:status`; every other field is stepped over by its length.

use super::huffman;

/// Why a header block could not be decoded: a connection error of type
/// COMPRESSION_ERROR (RFC 9113 §4.3), or a response without a status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HpackError {
    /// The block ends inside a field.
    Truncated,
    /// An integer longer than any the engine accepts.
    Overflow,
    /// An index that is 0, or past the static table (the dynamic one is empty).
    Index,
    /// A dynamic table size update past the 0 the engine asked for.
    TableSize,
    /// A Huffman-coded string that is not valid (§5.2).
    Huffman,
    /// No `:status`, or one that is not three digits.
    Status,
}

/// Names and values of the static table's entries that name `:status`
/// (indices 8 to 14); every other entry is a request field.
const STATUS_INDICES: std::ops::RangeInclusive<u64> = 8..=14;
const STATUS_VALUES: [u16; 7] = [200, 204, 206, 304, 400, 404, 500];
/// Entries in the static table.
const STATIC_ENTRIES: u64 = 61;

/// Reads an integer with an `prefix`-bit prefix (§5.1) from `src` at `*at`.
pub(crate) fn integer(src: &[u8], at: &mut usize, prefix: u8) -> Result<u64, HpackError> {
    let max = (1u64 << prefix) - 1;
    let first = *src.get(*at).ok_or(HpackError::Truncated)?;
    *at += 1;
    let mut value = u64::from(first) & max;
    if value < max {
        return Ok(value);
    }
    let mut shift = 0;
    loop {
        let byte = *src.get(*at).ok_or(HpackError::Truncated)?;
        *at += 1;
        // Past 28 bits of continuation, no length or index this engine
        // could hold is being written.
        if shift > 28 {
            return Err(HpackError::Overflow);
        }
        value += u64::from(byte & 0x7f) << shift;
        shift += 7;
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
}

/// Steps over a string literal (§5.2) at `*at`; returns its bytes and
/// whether they are Huffman-coded.
fn string<'a>(src: &'a [u8], at: &mut usize) -> Result<(&'a [u8], bool), HpackError> {
    let huffman = src.get(*at).ok_or(HpackError::Truncated)? & 0x80 != 0;
    let len = integer(src, at, 7)? as usize;
    let bytes = src
        .get(*at..at.saturating_add(len))
        .ok_or(HpackError::Truncated)?;
    *at += len;
    Ok((bytes, huffman))
}

/// A string literal's value: decoded when Huffman-coded, else as sent.
fn plain(bytes: &[u8], huffman: bool, out: &mut Vec<u8>) -> Result<(), HpackError> {
    match huffman {
        true => huffman::decode(bytes, out),
        false => {
            out.extend_from_slice(bytes);
            Ok(())
        }
    }
}

/// One field of a block: by static index, or by name and value literals.
enum Field<'a> {
    Indexed(u64),
    Literal {
        /// The static entry whose name it takes, or the name literal.
        name: Result<u64, (&'a [u8], bool)>,
        value: (&'a [u8], bool),
    },
}

/// Calls `each` with every field of a header block, in order.
fn fields<'a>(
    block: &'a [u8],
    mut each: impl FnMut(Field<'a>) -> Result<(), HpackError>,
) -> Result<(), HpackError> {
    let mut at = 0;
    while at < block.len() {
        let first = block[at];
        let field = if first & 0x80 != 0 {
            Field::Indexed(integer(block, &mut at, 7)?)
        } else if first & 0xe0 == 0x20 {
            // A dynamic table size update: only 0, the size asked for.
            if integer(block, &mut at, 5)? != 0 {
                return Err(HpackError::TableSize);
            }
            continue;
        } else {
            // With incremental indexing (01), without (0000) or never
            // indexed (0001): the same for a table that keeps nothing.
            let prefix = if first & 0xc0 == 0x40 { 6 } else { 4 };
            let index = integer(block, &mut at, prefix)?;
            let name = match index {
                0 => Err(string(block, &mut at)?),
                i => Ok(i),
            };
            Field::Literal {
                name,
                value: string(block, &mut at)?,
            }
        };
        if let Field::Indexed(i) | Field::Literal { name: Ok(i), .. } = field {
            if i == 0 || i > STATIC_ENTRIES {
                return Err(HpackError::Index);
            }
        }
        each(field)?;
    }
    Ok(())
}

/// The `:status` of a response header block.
pub(crate) fn status(block: &[u8]) -> Result<u16, HpackError> {
    let mut status = None;
    let mut value = Vec::new();
    fields(block, |field| {
        if status.is_some() {
            return Ok(());
        }
        match field {
            Field::Indexed(i) if STATUS_INDICES.contains(&i) => {
                status = Some(STATUS_VALUES[(i - 8) as usize]);
            }
            Field::Literal {
                name,
                value: (bytes, huffman),
            } => {
                let named = match name {
                    Ok(i) => STATUS_INDICES.contains(&i),
                    Err((name, coded)) => {
                        value.clear();
                        plain(name, coded, &mut value)?;
                        value == b":status"
                    }
                };
                if named {
                    value.clear();
                    plain(bytes, huffman, &mut value)?;
                    status = Some(three_digits(&value)?);
                }
            }
            Field::Indexed(_) => {}
        }
        Ok(())
    })?;
    status.ok_or(HpackError::Status)
}

fn three_digits(text: &[u8]) -> Result<u16, HpackError> {
    match text {
        [a, b, c] if text.iter().all(u8::is_ascii_digit) => {
            Ok(u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0'))
        }
        _ => Err(HpackError::Status),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every field of a block as text: `name: value`, with static names
    /// shown by index (the engine holds no names of its own).
    fn decoded(block: &[u8]) -> Result<Vec<String>, HpackError> {
        let mut out = Vec::new();
        fields(block, |field| {
            let line = match field {
                Field::Indexed(i) => format!("#{i}"),
                Field::Literal { name, value } => {
                    let mut text = Vec::new();
                    let name = match name {
                        Ok(i) => format!("#{i}"),
                        Err((bytes, coded)) => {
                            plain(bytes, coded, &mut text)?;
                            String::from_utf8(std::mem::take(&mut text)).unwrap()
                        }
                    };
                    plain(value.0, value.1, &mut text)?;
                    format!("{name}: {}", String::from_utf8(text).unwrap())
                }
            };
            out.push(line);
            Ok(())
        })?;
        Ok(out)
    }

    #[test]
    fn reads_rfc_7541_appendix_c_integers() {
        // C.1.1: 10 in a 5-bit prefix; C.1.2: 1337; C.1.3: 42 at an octet.
        for (bytes, prefix, value) in [
            (&[0x0a][..], 5, 10),
            (&[0x1f, 0x9a, 0x0a][..], 5, 1337),
            (&[0x2a][..], 8, 42),
        ] {
            let mut at = 0;
            assert_eq!(integer(bytes, &mut at, prefix), Ok(value));
            assert_eq!(at, bytes.len());
        }
        assert_eq!(
            integer(&[0x1f, 0x9a], &mut 0, 5),
            Err(HpackError::Truncated)
        );
        let endless = [0x1f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
        assert_eq!(integer(&endless, &mut 0, 5), Err(HpackError::Overflow));
    }

    #[test]
    fn reads_rfc_7541_appendix_c_field_representations() {
        // C.2.1: literal with indexing, new name (kept nowhere here).
        let c21 = b"\x40\x0acustom-key\x0dcustom-header";
        assert_eq!(decoded(c21).unwrap(), ["custom-key: custom-header"]);
        // C.2.2: literal without indexing, indexed name (:path).
        let c22 = b"\x04\x0c/sample/path";
        assert_eq!(decoded(c22).unwrap(), ["#4: /sample/path"]);
        // C.2.3: never indexed.
        let c23 = b"\x10\x08password\x06secret";
        assert_eq!(decoded(c23).unwrap(), ["password: secret"]);
        // C.2.4: indexed (:method GET).
        assert_eq!(decoded(&[0x82]).unwrap(), ["#2"]);
    }

    #[test]
    fn reads_the_status_of_rfc_7541_c_6_1() {
        // The first response of C.6.1: a Huffman-coded 302, with fields
        // that ask to be indexed (the engine's table keeps none).
        let block = [
            0x48, 0x82, 0x64, 0x02, 0x58, 0x85, 0xae, 0xc3, 0x77, 0x1a, 0x4b, 0x61, 0x96, 0xd0,
            0x7a, 0xbe, 0x94, 0x10, 0x54, 0xd4, 0x44, 0xa8, 0x20, 0x05, 0x95, 0x04, 0x0b, 0x81,
            0x66, 0xe0, 0x82, 0xa6, 0x2d, 0x1b, 0xff, 0x6e, 0x91, 0x9d, 0x29, 0xad, 0x17, 0x18,
            0x63, 0xc7, 0x8f, 0x0b, 0x97, 0xc8, 0xe9, 0xae, 0x82, 0xae, 0x43, 0xd3,
        ];
        assert_eq!(status(&block), Ok(302));
        assert_eq!(
            decoded(&block).unwrap(),
            [
                "#8: 302",
                "#24: private",
                "#33: Mon, 21 Oct 2013 20:13:21 GMT",
                "#46: https://www.example.com",
            ]
        );
        // Its second response refers to the dynamic table: an error here.
        assert_eq!(status(&[0x48, 0x83, 0x64, 0x0e, 0xff]), Ok(307));
        let second = [0x48, 0x83, 0x64, 0x0e, 0xff, 0xc1, 0xc0, 0xbf];
        assert_eq!(status(&second), Err(HpackError::Index));
    }

    #[test]
    fn reads_indexed_and_literal_statuses_and_refuses_the_rest() {
        assert_eq!(status(&[0x88]), Ok(200));
        assert_eq!(status(&[0x20, 0x8d]), Ok(404), "after a size update to 0");
        assert_eq!(status(&[0x08, 0x03, b'5', b'0', b'3']), Ok(503));
        assert_eq!(status(&[0x3f, 0x01]), Err(HpackError::TableSize));
        assert_eq!(status(&[0x80]), Err(HpackError::Index));
        assert_eq!(status(&[0x82]), Err(HpackError::Status), "no :status");
        assert_eq!(status(&[0x08, 0x02, b'2', b'0']), Err(HpackError::Status));
        assert_eq!(status(&[0x08, 0x05, b'2']), Err(HpackError::Truncated));
    }
}
