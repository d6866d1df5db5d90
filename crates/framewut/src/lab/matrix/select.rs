//! `--only PATTERN`: picks cells by id, by substring or, when the pattern
//! has `*` or `?`, by glob over the whole id.

/// Whether a cell id matches one pattern.
pub fn matches(pattern: &str, id: &str) -> bool {
    if pattern.contains(['*', '?']) {
        glob(pattern.as_bytes(), id.as_bytes())
    } else {
        id.contains(pattern)
    }
}

/// Whether `text` matches `pattern` as a whole: `*` is any run of characters
/// (slashes included), `?` any one character.
fn glob(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(b'*') => {
                star = Some((p, t));
                p += 1;
            }
            Some(c) if *c == b'?' || *c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|c| *c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn substrings_and_globs() {
        let id = "rust/axum/tokio-multi/hello/c32";
        assert!(matches("axum", id));
        assert!(matches("hello/c32", id));
        assert!(!matches("sleep", id));
        assert!(matches("rust/*/hello/*", id));
        assert!(matches("*tokio*", id));
        assert!(!matches("*tokio", id), "a glob matches the whole id");
        assert!(matches("rust/axum/tokio-multi/hello/c3?", id));
        assert!(!matches("rust/std/*", id));
        assert!(matches("*", id));
        assert!(matches("**/c32", id));
    }
}
