//! Fuzzes the whole front end (parse, resolve, render) on arbitrary bytes:
//! `cargo +nightly fuzz run front_end -- -max_total_time=60` (not run in CI).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let fe = ammc::front::front_end("fuzz.amm", data, None, &[]);
    if let Err(diags) = fe.program {
        let _ = ammc::diag::render_plain(&diags, &fe.sources, 80);
    }
});
