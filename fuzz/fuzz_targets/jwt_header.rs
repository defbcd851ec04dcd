//! Fuzz target `jwt_header`: see [`vawg_fuzz::jwt_header`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| vawg_fuzz::jwt_header(data));
