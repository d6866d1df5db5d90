//! Ctrl-C and SIGTERM as a flag: long-running commands check it, stop what
//! they are doing, keep what they measured and exit 130.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Once;

static STOP: AtomicBool = AtomicBool::new(false);
static INSTALL: Once = Once::new();

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

/// Installs the SIGINT and SIGTERM handlers (once) and returns the flag they set.
pub fn stop_flag() -> &'static AtomicBool {
    INSTALL.call_once(|| {
        // SAFETY: the handler only stores into an atomic, which is
        // async-signal-safe; the sigaction struct is zeroed then filled.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_signal as *const () as libc::sighandler_t;
            libc::sigemptyset(&mut action.sa_mask);
            action.sa_flags = libc::SA_RESTART;
            libc::sigaction(libc::SIGINT, &action, std::ptr::null_mut());
            libc::sigaction(libc::SIGTERM, &action, std::ptr::null_mut());
        }
    });
    &STOP
}

/// Whether SIGINT or SIGTERM has arrived since the handlers were installed.
pub fn stopped() -> bool {
    STOP.load(Ordering::SeqCst)
}
