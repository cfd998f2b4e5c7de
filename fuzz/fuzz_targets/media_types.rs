#![no_main]
//! `server::fuzzing::media_types`: what it calls and checks is said there.

libfuzzer_sys::fuzz_target!(|data: &[u8]| server::fuzzing::media_types(data));
