//! Compressing for the writer on every core: the planner decided where
//! each extent of a compressed file starts and ends, so every run of
//! extents can be compressed again independently. Workers compress runs
//! ahead of the writer, at most [`AHEAD`] runs ahead (memory stays at a
//! few MiB whatever the files' sizes), and the writer takes the blocks in
//! block order. The bytes do not depend on the thread count: each run's
//! blocks are a function of the file's bytes alone.

use super::zmap::{self, Extent};
use super::ErofsError;
use crate::tree::FileData;
use std::sync::{Condvar, Mutex};

/// Extents per run of work (1 MiB of output with 4 KiB blocks).
const RUN: usize = 256;
/// Runs compressed ahead of the writer.
const AHEAD: usize = 16;

/// One run: extents `extents` of `data`, whose input starts at `p0`.
struct Job<'a> {
    data: &'a FileData,
    size: u64,
    p0: u64,
    extents: &'a [Extent],
}

struct State {
    /// Runs the writer has taken.
    taken: usize,
    slots: Vec<Option<Result<Vec<u8>, ErofsError>>>,
    /// The writer stopped: workers stop too.
    abort: bool,
}

/// Runs `body` with a puller that hands out the blocks of every run of
/// `files` (compressed files in write order: their data and extents) in
/// order, while workers compress the runs after it. A file of `n` extents
/// comes as `runs(n)` runs of up to [`RUN`] blocks each.
pub fn with_compressed<T>(
    files: &[(&FileData, &[Extent])],
    bs: u64,
    body: impl FnOnce(&mut dyn FnMut() -> Result<Vec<u8>, ErofsError>) -> Result<T, ErofsError>,
) -> Result<T, ErofsError> {
    let mut jobs = Vec::new();
    for (data, extents) in files {
        let mut p0 = 0u64;
        for run in extents.chunks(RUN) {
            jobs.push(Job {
                data,
                size: data.len(),
                p0,
                extents: run,
            });
            p0 += run.iter().map(|e| u64::from(e.len)).sum::<u64>();
        }
    }
    let state = Mutex::new(State {
        taken: 0,
        slots: (0..jobs.len()).map(|_| None).collect(),
        abort: false,
    });
    let changed = Condvar::new();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(jobs.len());
    let lock = || state.lock().unwrap_or_else(|p| p.into_inner());
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| loop {
                let k = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(job) = jobs.get(k) else { return };
                {
                    let mut st = lock();
                    while !st.abort && k >= st.taken + AHEAD {
                        st = changed.wait(st).unwrap_or_else(|p| p.into_inner());
                    }
                    if st.abort {
                        return;
                    }
                }
                let blocks = compress_run(job, bs);
                lock().slots[k] = Some(blocks);
                changed.notify_all();
            });
        }
        // Whatever `body` does, the workers are told to stop so that the
        // scope can end.
        struct Stop<'s>(&'s Mutex<State>, &'s Condvar);
        impl Drop for Stop<'_> {
            fn drop(&mut self) {
                self.0.lock().unwrap_or_else(|p| p.into_inner()).abort = true;
                self.1.notify_all();
            }
        }
        let _stop = Stop(&state, &changed);
        let mut k = 0usize;
        let mut pull = || -> Result<Vec<u8>, ErofsError> {
            if k >= jobs.len() {
                return Err(ErofsError::Internal(
                    "more compressed runs pulled than planned",
                ));
            }
            let blocks = {
                let mut st = lock();
                loop {
                    if let Some(r) = st.slots[k].take() {
                        st.taken = k + 1;
                        break r;
                    }
                    st = changed.wait(st).unwrap_or_else(|p| p.into_inner());
                }
            };
            changed.notify_all();
            k += 1;
            blocks
        };
        body(&mut pull)
    })
}

/// Runs of a file of `n` extents.
pub fn runs(n: usize) -> usize {
    n.div_ceil(RUN)
}

/// The blocks of one run, checked against the plan.
fn compress_run(job: &Job, bs: u64) -> Result<Vec<u8>, ErofsError> {
    let mut out = Vec::with_capacity(job.extents.len() * bs as usize);
    zmap::with_window(job.data, |w| {
        let mut p = job.p0;
        for want in job.extents {
            let (got, block) = zmap::extent_at(w, p, job.size, bs)?;
            if got != *want {
                return Err(std::io::Error::other(
                    "a file compressed differently from its plan: did it change during the build?",
                ));
            }
            out.extend_from_slice(&block);
            p += u64::from(got.len);
        }
        Ok(())
    })?;
    Ok(out)
}
