#![no_main]
//! `server::fuzzing::connect_end_of_stream`: what it calls and checks is said there.

libfuzzer_sys::fuzz_target!(|data: &[u8]| server::fuzzing::connect_end_of_stream(data));
