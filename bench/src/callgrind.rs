//! What callgrind counts in a measuring program, told by function name
//! rather than by client requests (which would need `unsafe` inline asm,
//! forbidden in this workspace).
//!
//! Run the program with [`VALGRIND_ARGS`]: collection is off at start and
//! switched on inside [`measured`]; the counters are zeroed before each
//! call of it and dumped after, one dump file per call, in call order. The
//! polls of an [`Uncounted`] future switch collection off again while they
//! run: the fixtures that answer the code under test (a store double, a
//! fixed upstream, a client) are executed but not counted.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// The callgrind options that give [`measured`] and [`Uncounted`] their
/// meaning. The patterns match the demangled names of the two functions.
pub const VALGRIND_ARGS: [&str; 6] = [
    "--tool=callgrind",
    "--collect-atstart=no",
    "--toggle-collect=authscale_bench::callgrind::measured",
    "--zero-before=authscale_bench::callgrind::measured",
    "--dump-after=authscale_bench::callgrind::measured",
    "--toggle-collect=<authscale_bench::callgrind::Uncounted<*>*poll",
];

/// Runs `op` `n` times, counted: under [`VALGRIND_ARGS`] each call of this
/// function ends in its own dump file.
#[inline(never)]
pub fn measured(n: usize, op: &mut dyn FnMut()) {
    for _ in 0..n {
        op();
    }
}

/// A future whose polls are not counted.
pub struct Uncounted<F>(pub Pin<Box<F>>);

impl<F> std::fmt::Debug for Uncounted<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Uncounted")
    }
}

impl<F: Future> Future for Uncounted<F> {
    type Output = F::Output;

    #[inline(never)]
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        self.0.as_mut().poll(cx)
    }
}
