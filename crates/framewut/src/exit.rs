//! The exit statuses framewut ends with, beside 0 (success) and 1 (an
//! error, printed as `Error: ...`): one place, for the commands that end
//! with them and the lab whose outcomes map to them.

/// Some cells of a run failed; the rest were measured and saved.
pub const SOME_FAILED: u8 = 2;
/// A load ran to its end but had no request succeed.
pub const NOTHING_SUCCEEDED: u8 = 3;
/// A load or a run finished, but crossed a threshold (`--threshold`, or a
/// matrix profile's `thresholds`).
pub const THRESHOLD_CROSSED: u8 = 4;
/// Stopped by SIGINT or SIGTERM, as shells expect after Ctrl-C.
pub const INTERRUPTED: u8 = 130;
/// The output's reader went away early (`framewut list stacks | head`), as
/// SIGPIPE would end the program.
pub const BROKEN_PIPE: u8 = 141;
