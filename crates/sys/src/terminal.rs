//! Standard error as a terminal: whether it is one, and how wide, so that a
//! line redrawn in place never wraps (a wrapped line leaves its first part
//! behind at every redraw).

/// Whether standard error is a terminal.
pub fn stderr_is_terminal() -> bool {
    // SAFETY: isatty only reads the descriptor's state.
    unsafe { libc::isatty(libc::STDERR_FILENO) == 1 }
}

/// The columns of the terminal on standard error; none when it is not a
/// terminal or does not say.
pub fn stderr_columns() -> Option<usize> {
    columns_of(libc::STDERR_FILENO)
}

fn columns_of(fd: libc::c_int) -> Option<usize> {
    // SAFETY: a zeroed winsize is valid, and TIOCGWINSZ only fills it.
    let mut size: libc::winsize = unsafe { std::mem::zeroed() };
    let ok = unsafe { libc::ioctl(fd, libc::TIOCGWINSZ, &mut size) } == 0;
    (ok && size.ws_col > 0).then_some(size.ws_col as usize)
}

/// `line` cut to fewer than `columns` characters (the last column left
/// free, where a terminal would wrap), ending in `…` where it was cut.
pub fn fit(line: &str, columns: usize) -> String {
    let room = columns.saturating_sub(1);
    if line.chars().count() <= room {
        return line.to_string();
    }
    let mut cut: String = line.chars().take(room.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_is_cut_short_of_the_last_column_and_says_so() {
        assert_eq!(
            fit("rust/axum/per-core/hello/c8", 80),
            "rust/axum/per-core/hello/c8"
        );
        assert_eq!(fit("abcdef", 7), "abcdef");
        assert_eq!(fit("abcdef", 6), "abcd…");
        assert_eq!(fit("µs µs µs", 5), "µs …");
        assert_eq!(fit("abc", 1), "…");
    }

    #[test]
    fn a_pipe_has_no_width() {
        let mut fds = [0; 2];
        // SAFETY: pipe fills the two descriptors it is given.
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        assert_eq!(columns_of(fds[0]), None);
        assert_eq!(columns_of(fds[1]), None);
        // SAFETY: both descriptors are this test's own and closed once.
        unsafe {
            libc::close(fds[0]);
            libc::close(fds[1]);
        }
    }
}
