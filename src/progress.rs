//! Progress on a TTY, drawn on stderr from the first moment of a build and
//! naming each phase: resolving the tree (and extracting a tar archive),
//! writing (and compressing, for qcow2), hashing. Byte-counted phases show
//! a bar with rate and ETA; the hash has its own bar, so the write's never
//! sits at its end while the image is hashed. Never under `--quiet` or when
//! stderr is not a TTY (the CLI decides; this module only draws).

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::sync::Arc;
use std::time::Duration;

/// A writer's progress report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tick {
    /// Bytes of file data written, and in all.
    pub data_done: u64,
    pub data_total: u64,
    /// Every byte of the image below this offset is final: a hasher may
    /// read it. Writers that cannot say report 0 until they are done.
    pub final_below: u64,
}

/// A callback that names what the build is doing now (`"extracting
/// base.tar"`); the planner calls it from deep inside resolution.
#[derive(Clone, Default)]
pub struct Phase(Option<Arc<PhaseFn>>);

/// What a [`Phase`] calls.
type PhaseFn = dyn Fn(&str) + Send + Sync;

impl Phase {
    pub fn new(f: impl Fn(&str) + Send + Sync + 'static) -> Self {
        Phase(Some(Arc::new(f)))
    }

    /// Says what is happening now.
    pub fn set(&self, what: &str) {
        if let Some(f) = &self.0 {
            f(what);
        }
    }
}

impl std::fmt::Debug for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "Phase(on)"
        } else {
            "Phase(off)"
        })
    }
}

/// The progress display of one build.
pub struct Bar {
    bar: Option<ProgressBar>,
}

const SPINNER: &str = "{spinner} {msg} ({elapsed})";
const BYTES: &str = "{msg:<10} {bar:30} {bytes}/{total_bytes} {bytes_per_sec} ETA {eta}";

impl Bar {
    /// Shows "resolving the tree" at once when `enabled`.
    pub fn new(enabled: bool) -> Self {
        let bar = enabled.then(|| {
            let b = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            b.set_style(
                ProgressStyle::with_template(SPINNER)
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            b.set_message("resolving the tree");
            b.enable_steady_tick(Duration::from_millis(100));
            b
        });
        Bar { bar }
    }

    /// A [`Phase`] callback that shows its text as the current phase.
    pub fn phase_callback(&self) -> Phase {
        match &self.bar {
            Some(b) => {
                let b = b.clone();
                Phase::new(move |what| b.set_message(what.to_string()))
            }
            None => Phase::default(),
        }
    }

    /// Starts a phase of `total` bytes (a bar with rate and ETA).
    pub fn bytes(&mut self, what: &str, total: u64) {
        if let Some(b) = &self.bar {
            b.set_style(
                ProgressStyle::with_template(BYTES)
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            b.set_length(total);
            b.set_position(0);
            b.reset_eta();
            b.set_message(what.to_string());
        }
    }

    /// Reports `done` of `total` bytes of the current phase.
    pub fn update(&mut self, done: u64, total: u64) {
        if let Some(b) = &self.bar {
            b.set_length(total);
            b.set_position(done);
        }
    }

    pub fn finish(&mut self) {
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
        }
    }
}
