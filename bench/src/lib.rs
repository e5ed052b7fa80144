//! authscale's measurements of its own building blocks. The programs live in
//! `examples/` (decision measurements) and, later, `benches/` (criterion).
