#![no_main]
//! `compare::fuzzing::compare_http1_reply`: what it calls and checks is said there.

libfuzzer_sys::fuzz_target!(|data: &[u8]| compare::fuzzing::compare_http1_reply(data));
