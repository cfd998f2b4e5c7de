#![no_main]
//! `server::fuzzing::connect_get`: what it calls and checks is said there.

libfuzzer_sys::fuzz_target!(|data: &[u8]| server::fuzzing::connect_get(data));
