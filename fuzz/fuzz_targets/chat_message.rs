#![no_main]
//! `server::fuzzing::chat_message`: what it calls and checks is said there.

libfuzzer_sys::fuzz_target!(|data: &[u8]| server::fuzzing::chat_message(data));
