#![no_main]
//! `server::fuzzing::compression`: what it calls and checks is said there.

libfuzzer_sys::fuzz_target!(|data: &[u8]| server::fuzzing::compression(data));
