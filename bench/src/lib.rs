//! authscale's measurements of its own building blocks. The programs live in
//! `examples/` (decision measurements and the instruction counts) and
//! `benches/` (criterion).

pub mod callgrind;
pub mod keys;
pub mod login;
