//! Writing to standard output without panicking: the macros every layer
//! prints with, kept below all of them.

/// `println!` that hands back the write's error instead of panicking: a
/// reader that stops early (`framewut list stacks | head`) then ends the
/// program through the ordinary error path, every guard dropped on the way.
#[macro_export]
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout().lock(), $($arg)*)
    }};
}

/// `print!` as [`outln!`] is `println!`.
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        write!(std::io::stdout().lock(), $($arg)*)
    }};
}
