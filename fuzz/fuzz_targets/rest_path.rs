#![no_main]
//! `server::fuzzing::rest_path`: what it calls and checks is said there.

libfuzzer_sys::fuzz_target!(|data: &[u8]| server::fuzzing::rest_path(data));
