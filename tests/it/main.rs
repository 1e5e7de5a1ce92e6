//! Integration tests: one binary. Each module builds images and lets the
//! real validators judge them.

mod bad_input;
mod common;
mod determinism;
mod ext;
mod ext_readback;
