//! The `Date` header value, formatted at most once a second per thread.

use std::cell::RefCell;
use std::time::{SystemTime, UNIX_EPOCH};

thread_local! {
    static CACHE: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
}

/// Calls `f` with the current time as an HTTP date, e.g. `Sun, 06 Nov 1994 08:49:37 GMT`.
pub(crate) fn with_date<R>(f: impl FnOnce(&str) -> R) -> R {
    let now = SystemTime::now();
    let second = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    CACHE.with(|cache| {
        let mut cache = cache.borrow_mut();
        if cache.0 != second {
            *cache = (second, httpdate::fmt_http_date(now));
        }
        f(&cache.1)
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn formats_an_http_date() {
        let date = super::with_date(str::to_string);
        assert_eq!(date.len(), 29);
        assert!(date.ends_with(" GMT"), "{date}");
        assert!(httpdate::parse_http_date(&date).is_ok());
    }
}
