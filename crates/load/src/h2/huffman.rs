//! HPACK's Huffman code (RFC 7541, Appendix B), decoding only: the engine
//! never compresses what it sends, and reads a string only where it needs
//! its value (a `:status` the static table does not hold).
//!
//! The code is canonical: ordered by length, then by symbol, each code is
//! the one before it plus one, shifted left to its own length. So the
//! count of codes of each length and the symbols in that order describe it
//! whole, and a decoder walks it bit by bit with three integers.

use super::hpack::HpackError;

/// How many codes RFC 7541 Appendix B has of each length in bits (index 0 unused).
const COUNTS: [u16; 31] = [
    0, 0, 0, 0, 0, 10, 26, 32, 6, 0, 5, 3, 2, 6, 2, 3, 0, 0, 0, 3, 8, 13, 26, 29, 12, 4, 15, 19,
    29, 0, 4,
];

/// The symbols in code order: by code length, then by symbol (the code is
/// canonical, so each code is the one after the previous, shifted to its length).
const SYMBOLS: [u16; 257] = [
    48, 49, 50, 97, 99, 101, 105, 111, 115, 116, 32, 37, 45, 46, 47, 51, 52, 53, 54, 55, 56, 57,
    61, 65, 95, 98, 100, 102, 103, 104, 108, 109, 110, 112, 114, 117, 58, 66, 67, 68, 69, 70, 71,
    72, 73, 74, 75, 76, 77, 78, 79, 80, 81, 82, 83, 84, 85, 86, 87, 89, 106, 107, 113, 118, 119,
    120, 121, 122, 38, 42, 44, 59, 88, 90, 33, 34, 40, 41, 63, 39, 43, 124, 35, 62, 0, 36, 64, 91,
    93, 126, 94, 125, 60, 96, 123, 92, 195, 208, 128, 130, 131, 162, 184, 194, 224, 226, 153, 161,
    167, 172, 176, 177, 179, 209, 216, 217, 227, 229, 230, 129, 132, 133, 134, 136, 146, 154, 156,
    160, 163, 164, 169, 170, 173, 178, 181, 185, 186, 187, 189, 190, 196, 198, 228, 232, 233, 1,
    135, 137, 138, 139, 140, 141, 143, 147, 149, 150, 151, 152, 155, 157, 158, 165, 166, 168, 174,
    175, 180, 182, 183, 188, 191, 197, 231, 239, 9, 142, 144, 145, 148, 159, 171, 206, 215, 225,
    236, 237, 199, 207, 234, 235, 192, 193, 200, 201, 202, 205, 210, 213, 218, 219, 238, 240, 242,
    243, 255, 203, 204, 211, 212, 214, 221, 222, 223, 241, 244, 245, 246, 247, 248, 250, 251, 252,
    253, 254, 2, 3, 4, 5, 6, 7, 8, 11, 12, 14, 15, 16, 17, 18, 19, 20, 21, 23, 24, 25, 26, 27, 28,
    29, 30, 31, 127, 220, 249, 10, 13, 22, 256,
];

/// The longest code, in bits.
const MAX_LEN: usize = 30;
/// The end-of-string symbol: never valid inside a string (§5.2).
const EOS: u16 = 256;

/// Appends the decoding of the Huffman-coded `src` to `out`.
pub(crate) fn decode(src: &[u8], out: &mut Vec<u8>) -> Result<(), HpackError> {
    // The code read so far, its length, the first code of that length,
    // and where that length's symbols start in SYMBOLS.
    let (mut code, mut len, mut first, mut index) = (0u32, 0usize, 0u32, 0usize);
    for byte in src {
        for shift in (0..8).rev() {
            code |= u32::from(byte >> shift & 1);
            len += 1;
            let count = u32::from(COUNTS[len]);
            if code < first + count {
                let symbol = SYMBOLS[index + (code - first) as usize];
                if symbol == EOS {
                    return Err(HpackError::Huffman);
                }
                out.push(symbol as u8);
                (code, len, first, index) = (0, 0, 0, 0);
                continue;
            }
            if len == MAX_LEN {
                return Err(HpackError::Huffman);
            }
            index += count as usize;
            first = (first + count) << 1;
            code <<= 1;
        }
    }
    // What is left must be padding: fewer than 8 bits, all ones (the
    // start of the end-of-string code). `code` was shifted once past them.
    let padding = code >> 1;
    if len >= 8 || (len > 0 && padding != (1 << len) - 1) {
        return Err(HpackError::Huffman);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(src: &[u8]) -> Result<String, HpackError> {
        let mut out = Vec::new();
        decode(src, &mut out)?;
        Ok(String::from_utf8(out).unwrap())
    }

    #[test]
    fn decodes_rfc_7541_appendix_c_strings() {
        // C.4.1, C.4.2 and C.6.1's Huffman-coded strings.
        let cases: [(&[u8], &str); 5] = [
            (
                &[
                    0xf1, 0xe3, 0xc2, 0xe5, 0xf2, 0x3a, 0x6b, 0xa0, 0xab, 0x90, 0xf4, 0xff,
                ],
                "www.example.com",
            ),
            (&[0xa8, 0xeb, 0x10, 0x64, 0x9c, 0xbf], "no-cache"),
            (&[0x64, 0x02], "302"),
            (&[0xae, 0xc3, 0x77, 0x1a, 0x4b], "private"),
            (
                &[
                    0x9d, 0x29, 0xad, 0x17, 0x18, 0x63, 0xc7, 0x8f, 0x0b, 0x97, 0xc8, 0xe9, 0xae,
                    0x82, 0xae, 0x43, 0xd3,
                ],
                "https://www.example.com",
            ),
        ];
        for (coded, plain) in cases {
            assert_eq!(text(coded).unwrap(), plain);
        }
    }

    #[test]
    fn the_tables_describe_a_complete_code() {
        // Kraft's equality: a complete prefix code's lengths sum to exactly 1.
        let kraft: u64 = (1..=MAX_LEN)
            .map(|len| u64::from(COUNTS[len]) << (MAX_LEN - len))
            .sum();
        assert_eq!(kraft, 1 << MAX_LEN);
        let mut seen = [false; 257];
        for s in SYMBOLS {
            assert!(!seen[s as usize], "symbol {s} twice");
            seen[s as usize] = true;
        }
    }

    #[test]
    fn refuses_bad_padding_and_the_end_of_string_code() {
        // '0' is 00000; three 0 bits of padding are not the EOS prefix.
        assert_eq!(text(&[0x00]), Err(HpackError::Huffman));
        // '0' then three 1 bits pads correctly.
        assert_eq!(text(&[0x07]).unwrap(), "0");
        // A whole byte of ones is padding of 8 bits: too long.
        assert_eq!(text(&[0x07, 0xff]), Err(HpackError::Huffman));
        // The 30-bit EOS code itself.
        assert_eq!(text(&[0xff, 0xff, 0xff, 0xff]), Err(HpackError::Huffman));
    }
}
