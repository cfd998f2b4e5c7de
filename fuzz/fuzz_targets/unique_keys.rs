#![no_main]
//! `server::fuzzing::unique_keys`: what it calls and checks is said there.

libfuzzer_sys::fuzz_target!(|data: &[u8]| server::fuzzing::unique_keys(data));
