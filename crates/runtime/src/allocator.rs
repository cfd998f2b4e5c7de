//! The global allocator of everything that links this library (the binary, the examples that
//! serve as baselines, tests and benches), chosen by cargo feature so that every Rust server of
//! the comparison allocates alike: `jemalloc`, `mimalloc`, or neither for the system's (glibc
//! malloc). An HTTP call allocates a few dozen times (headers, bodies, tasks), so the allocator
//! is a visible share of a call's instructions (docs/comparison.md measures how much).

#[cfg(feature = "jemalloc")]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[cfg(all(feature = "mimalloc", not(feature = "jemalloc")))]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The allocator this build uses, for the provenance of a measurement.
pub const ALLOCATOR: &str = if cfg!(feature = "jemalloc") {
    "jemalloc"
} else if cfg!(feature = "mimalloc") {
    "mimalloc"
} else {
    "system"
};
