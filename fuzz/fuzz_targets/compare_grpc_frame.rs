#![no_main]
//! `compare::fuzzing::compare_grpc_frame`: what it calls and checks is said there.

libfuzzer_sys::fuzz_target!(|data: &[u8]| compare::fuzzing::compare_grpc_frame(data));
