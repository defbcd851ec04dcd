//! Fuzz target `policy_files`: see [`vawg_fuzz::policy_files`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| vawg_fuzz::policy_files(data));
