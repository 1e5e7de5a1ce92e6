//! fstool: deterministic, hermetic builder of filesystem and disk images.
//!
//! The pipeline runs one way: [`spec`] → [`tree`] → plan → writers ([`fs`],
//! part) → sink ([`io`]). See `docs/ARCHITECTURE.md`.

pub mod build;
pub mod bytes;
pub mod container;
pub mod fs;
pub mod inspect;
pub mod io;
pub mod par;
pub mod part;
pub mod plan;
pub mod progress;
pub mod read;
pub mod spec;
pub mod tree;
pub mod verity;

pub use build::{build, build_with, BuildError, BuildOptions, Report};
pub use plan::image::{plan, plan_with, ImagePlan, PlanOptions, Planned};
