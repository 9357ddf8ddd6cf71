//! Fuzzes the file readers on arbitrary bytes: the first byte picks the reader (CSV, IDX,
//! NPY — header-only `check` path and full load — or safetensors), the rest is the file:
//! `cargo +nightly fuzz run data_files -- -max_total_time=60` (not run in CI).
#![no_main]

use std::path::PathBuf;

use libfuzzer_sys::fuzz_target;

fn scratch() -> PathBuf {
    std::env::temp_dir().join(format!("ammc-fuzz-data-{}", std::process::id()))
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, body)) = data.split_first() else {
        return;
    };
    let path = scratch();
    if std::fs::write(&path, body).is_err() {
        return;
    }
    // Every reader must return Ok or a located error: a panic, abort or hang is the bug.
    match which % 6 {
        0 => drop(ammc::data::files::csv(&path, "label")),
        1 => drop(ammc::data::files::idx(&path, &path)),
        2 => drop(ammc::data::files::idx_sample_shape(&path)),
        3 => drop(ammc::data::files::npy(&path, &path)),
        4 => drop(ammc::data::files::npy_sample_shape(&path)),
        _ => {
            drop(ammc::data::safetensors::deserialize(body));
            drop(ammc::check::weights::read_header(&path));
        }
    }
});
