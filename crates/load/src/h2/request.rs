//! A load's requests as HTTP/2 header blocks (RFC 7541), encoded once for
//! the whole load in three forms, so that a connection sends what a real
//! client would and still copies bytes only:
//!
//! - `first`: the connection's first request, which adds the fields every
//!   request of the load shares (`:authority`, and for a single request its
//!   path and headers) to the server's dynamic table;
//! - `next`: every later request, which names those fields by their index
//!   in that table: a few bytes a request, as browsers, curl and h2load
//!   send, so the server decodes what it would decode in production;
//! - `plain`: every field a literal kept out of any table, for a server
//!   whose table is too small to hold the shared fields.
//!
//! Names are in lower case, pseudo-fields first; the fields HTTP/2 forbids
//! (they describe an HTTP/1.1 connection) are left out, `Host` becomes
//! `:authority`, and `content-length` is added for a body unless given.
//! Nothing is Huffman-coded: the server decodes it just the same.

use super::frame::integer;

/// The static table's names the encoder gives values of its own.
const AUTHORITY: (u8, &str) = (1, ":authority");
const METHOD: (u8, &str) = (2, ":method");
const PATH: (u8, &str) = (4, ":path");

/// Header fields HTTP/2 forbids (RFC 9113 §8.2.2); `Host` becomes `:authority`.
const CONNECTION_FIELDS: [&str; 6] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "upgrade",
    "host",
];

/// One request as the engine sends it: its header block in each form,
/// and its body.
pub(crate) struct Encoded {
    pub plain: Vec<u8>,
    pub first: Vec<u8>,
    pub next: Vec<u8>,
    /// Bytes of the server's dynamic table the shared fields take (RFC
    /// 7541 §4.1): `first` and `next` only fit a table at least this large.
    pub table: u32,
    pub body: Vec<u8>,
}

/// What a request is, before encoding.
pub(crate) struct Request<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub headers: &'a [(String, String)],
    pub body: &'a [u8],
}

#[derive(Clone, PartialEq, Eq)]
enum Field {
    /// An entry of the static table, name and value both.
    Static(u8),
    /// A value for one of the static table's names.
    Named((u8, &'static str), Vec<u8>),
    /// A name and a value of its own.
    Literal(Vec<u8>, Vec<u8>),
}

impl Field {
    /// Its size in a dynamic table (§4.1): name and value, plus 32.
    fn size(&self) -> usize {
        match self {
            Field::Static(_) => 0,
            Field::Named((_, name), value) => name.len() + value.len() + 32,
            Field::Literal(name, value) => name.len() + value.len() + 32,
        }
    }

    /// Appends it as a literal: with incremental indexing (`index`), or
    /// without (§6.2.1 and §6.2.2).
    fn literal(&self, out: &mut Vec<u8>, index: bool) {
        let (prefix, flags) = if index { (6, 0x40) } else { (4, 0x00) };
        match self {
            Field::Static(i) => out.push(0x80 | i),
            Field::Named((i, _), value) => {
                integer(out, usize::from(*i), prefix, flags);
                string(out, value);
            }
            Field::Literal(name, value) => {
                out.push(flags);
                string(out, name);
                string(out, value);
            }
        }
    }
}

/// Appends a string literal, not Huffman-coded.
fn string(out: &mut Vec<u8>, text: &[u8]) {
    integer(out, text.len(), 7, 0);
    out.extend_from_slice(text);
}

/// A request's fields in the order they are sent.
fn fields(r: &Request, https: bool, authority: &str) -> Vec<Field> {
    let mut fields = vec![
        match r.method {
            "GET" => Field::Static(2),
            "POST" => Field::Static(3),
            other => Field::Named(METHOD, other.as_bytes().to_vec()),
        },
        Field::Static(if https { 7 } else { 6 }),
    ];
    let authority = r
        .headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("host"))
        .map_or(authority, |(_, v)| v.as_str());
    fields.push(Field::Named(AUTHORITY, authority.as_bytes().to_vec()));
    fields.push(match r.path {
        "/" => Field::Static(4),
        path => Field::Named(PATH, path.as_bytes().to_vec()),
    });
    let mut length = !r.body.is_empty();
    for (name, value) in r.headers {
        let name = name.to_ascii_lowercase();
        if CONNECTION_FIELDS.contains(&name.as_str()) {
            continue;
        }
        // `te` may only say "trailers".
        if name == "te" && !value.eq_ignore_ascii_case("trailers") {
            continue;
        }
        length &= name != "content-length";
        fields.push(Field::Literal(name.into_bytes(), value.as_bytes().to_vec()));
    }
    if length {
        let value = r.body.len().to_string().into_bytes();
        fields.push(Field::Literal(b"content-length".to_vec(), value));
    }
    fields
}

/// Encodes every request of a load.
pub(crate) fn encode(requests: &[Request], https: bool, authority: &str) -> Vec<Encoded> {
    let all: Vec<Vec<Field>> = requests
        .iter()
        .map(|r| fields(r, https, authority))
        .collect();
    // The fields every request has, in the first request's order; when the
    // requests order them differently, only `:authority` (always third).
    let candidates: Vec<&Field> = all[0]
        .iter()
        .filter(|f| !matches!(f, Field::Static(_)))
        .filter(|f| all.iter().all(|fs| fs.contains(f)))
        .collect();
    let in_order = all.iter().all(|fs| {
        let theirs: Vec<&Field> = fs.iter().filter(|f| candidates.contains(f)).collect();
        theirs == candidates
    });
    let shared: Vec<Field> = match in_order {
        true => candidates.into_iter().cloned().collect(),
        false => vec![all[0][2].clone()],
    };
    let table = shared.iter().map(Field::size).sum::<usize>() as u32;
    requests
        .iter()
        .zip(&all)
        .map(|(r, fields)| {
            let (mut plain, mut first, mut next) = (Vec::new(), Vec::new(), Vec::new());
            for field in fields {
                field.literal(&mut plain, false);
                match shared.iter().position(|s| s == field) {
                    Some(i) => {
                        field.literal(&mut first, true);
                        // The last added is 62, the one before it 63, ...
                        integer(&mut next, 62 + shared.len() - 1 - i, 7, 0x80);
                    }
                    None => {
                        field.literal(&mut first, false);
                        field.literal(&mut next, false);
                    }
                }
            }
            Encoded {
                plain,
                first,
                next,
                table,
                body: r.body.to_vec(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request<'a>(method: &'a str, path: &'a str, headers: &'a [(String, String)]) -> Request<'a> {
        Request {
            method,
            path,
            headers,
            body: b"",
        }
    }

    #[test]
    fn a_single_request_indexes_its_fields_once_then_names_them() {
        let headers = vec![
            ("Host".to_string(), "example.com".to_string()),
            ("Connection".to_string(), "keep-alive".to_string()),
            ("X-Id".to_string(), "7".to_string()),
        ];
        let r = Request {
            method: "POST",
            path: "/a",
            headers: &headers,
            body: b"abc",
        };
        let [e] = &encode(&[r], true, "127.0.0.1:1")[..] else {
            panic!("one request")
        };
        let mut plain = vec![0x83, 0x87, 0x01, 11];
        plain.extend_from_slice(b"example.com");
        plain.extend_from_slice(&[0x04, 2, b'/', b'a', 0, 4]);
        plain.extend_from_slice(b"x-id");
        plain.extend_from_slice(&[1, b'7', 0, 14]);
        plain.extend_from_slice(b"content-length");
        plain.extend_from_slice(&[1, b'3']);
        assert_eq!(e.plain, plain);
        // The same fields, each with incremental indexing.
        let mut first = vec![0x83, 0x87, 0x41, 11];
        first.extend_from_slice(b"example.com");
        first.extend_from_slice(&[0x44, 2, b'/', b'a', 0x40, 4]);
        first.extend_from_slice(b"x-id");
        first.extend_from_slice(&[1, b'7', 0x40, 14]);
        first.extend_from_slice(b"content-length");
        first.extend_from_slice(&[1, b'3']);
        assert_eq!(e.first, first);
        // Four entries added: the first of them is now 65, the last 62.
        assert_eq!(
            e.next,
            [0x83, 0x87, 0x80 | 65, 0x80 | 64, 0x80 | 63, 0x80 | 62]
        );
        let sizes = (10 + 11 + 32) + (5 + 2 + 32) + (4 + 1 + 32) + (14 + 1 + 32);
        assert_eq!(e.table, sizes);
    }

    #[test]
    fn a_list_shares_only_what_every_request_has() {
        let a = [("X-Id".to_string(), "7".to_string())];
        let b = [
            ("x-id".to_string(), "7".to_string()),
            ("X-B".to_string(), "2".to_string()),
        ];
        let encoded = encode(
            &[request("GET", "/", &a), request("GET", "/b", &b)],
            false,
            "h:1",
        );
        // :authority and x-id are shared, in that order.
        assert_eq!(encoded[0].next, [0x82, 0x86, 0x80 | 63, 0x84, 0x80 | 62]);
        let mut next = vec![0x82, 0x86, 0x80 | 63, 0x04, 2, b'/', b'b', 0x80 | 62, 0, 3];
        next.extend_from_slice(b"x-b");
        next.extend_from_slice(&[1, b'2']);
        assert_eq!(encoded[1].next, next);
        assert_eq!(encoded[1].table, (10 + 3 + 32) + (4 + 1 + 32));
    }
}
