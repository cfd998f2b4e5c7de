#![no_main]
//! `rpc_vs_rest_server::fuzzing::connect_get`: what it calls and checks is said there.

libfuzzer_sys::fuzz_target!(|data: &[u8]| rpc_vs_rest_server::fuzzing::connect_get(data));
