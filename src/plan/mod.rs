//! Planning helpers shared by every format: seeded identifiers, time policy
//! and size arithmetic. Each format's own geometry planner lives beside its
//! writer (`fs::ext::plan`, `fs::fat::plan`, `part::plan`) and is a pure
//! function of the tree and options.

mod disk;
pub mod ids;
pub mod image;
pub mod manifest;
pub mod size;
pub mod verity;
