//! Progress on a TTY: bytes done, rate and ETA, shown only for builds that
//! take over a second, never under `--quiet` or when stderr is not a TTY
//! (the CLI decides; this module only draws).

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::time::{Duration, Instant};

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

pub struct Bar {
    enabled: bool,
    start: Instant,
    bar: Option<ProgressBar>,
}

impl Bar {
    pub fn new(enabled: bool) -> Self {
        Bar {
            enabled,
            start: Instant::now(),
            bar: None,
        }
    }

    /// Reports `done` of `total` bytes of file data.
    pub fn update(&mut self, done: u64, total: u64) {
        if !self.enabled {
            return;
        }
        if self.bar.is_none() {
            if self.start.elapsed() < Duration::from_secs(1) {
                return;
            }
            let b = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
            b.set_style(
                ProgressStyle::with_template(
                    "{bar:30} {bytes}/{total_bytes} {bytes_per_sec} ETA {eta}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            self.bar = Some(b);
        }
        if let Some(b) = &self.bar {
            b.set_position(done);
        }
    }

    pub fn finish(&mut self) {
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
        }
    }
}
