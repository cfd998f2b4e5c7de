#![no_main]
//! `server::fuzzing::json_codec`: what it calls and checks is said there.

libfuzzer_sys::fuzz_target!(|data: &[u8]| server::fuzzing::json_codec(data));
