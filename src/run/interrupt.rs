//! SIGINT and SIGTERM as a flag: the first asks the run to stop at its next safe point
//! (a batch boundary, an episode, a trial) and write what it has; the second ends the
//! process at once with exit code 130. Atomic writes mean even that leaves no torn file.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Exit code of an interrupted run (128 + SIGINT, the shell's convention).
pub const EXIT_INTERRUPTED: u8 = 130;

/// A stop request shared between a signal handler and the run that polls it.
#[derive(Clone, Debug, Default)]
pub struct Interrupt(Arc<AtomicBool>, Arc<AtomicBool>);

impl Interrupt {
    /// A flag nothing sets except [`Interrupt::request`] (tests, library callers).
    pub fn new() -> Interrupt {
        Interrupt::default()
    }

    /// A flag set by SIGINT and SIGTERM; a second signal exits the process with 130.
    /// Returns the plain flag when the handlers cannot be installed.
    pub fn on_signals() -> Interrupt {
        let flag = Interrupt::new();
        for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
            // Runs that cannot stop at a safe point ask for the default: exit at once.
            let _ = signal_hook::flag::register_conditional_shutdown(
                sig,
                i32::from(EXIT_INTERRUPTED),
                Arc::clone(&flag.1),
            );
            // Order matters: the conditional exit sees the flag as it was before this
            // signal, so only a second signal ends the process.
            let _ = signal_hook::flag::register_conditional_shutdown(
                sig,
                i32::from(EXIT_INTERRUPTED),
                Arc::clone(&flag.0),
            );
            let _ = signal_hook::flag::register(sig, Arc::clone(&flag.0));
        }
        flag
    }

    /// Whether a signal ends the process at once (for runs that do not poll the flag,
    /// whose files are written atomically so nothing is torn) or only sets the flag.
    pub fn set_immediate(&self, immediate: bool) {
        self.1.store(immediate, Ordering::SeqCst);
    }

    /// Asks the run to stop.
    pub fn request(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// Whether a stop was asked for.
    pub fn requested(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}
