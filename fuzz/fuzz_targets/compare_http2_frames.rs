#![no_main]
//! `compare::fuzzing::compare_http2_frames`: what it calls and checks is said there.

libfuzzer_sys::fuzz_target!(|data: &[u8]| compare::fuzzing::compare_http2_frames(data));
