//! Fuzzes the vector-file reader (both format versions) and the runner with
//! arbitrary text: no panic; a line that parses is written back to the same
//! scenario; a scenario that parses runs through the `walk` and `tlb`
//! backends without panicking (hostile storage sizes, tables, addresses and
//! operations included).
#![no_main]

use libfuzzer_sys::fuzz_target;
use zmmu_conformance::backend::{Backend, TlbBackend, WalkBackend};
use zmmu_conformance::{steps, vector};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(scenarios) = vector::parse_str("fuzz", text) {
        for scenario in &scenarios {
            let line = vector::format_scenario(scenario);
            assert_eq!(vector::parse_line(&line).ok().as_ref(), Some(scenario));
        }
    }
    let Ok(scenarios) = steps::parse_str("fuzz", text) else {
        return;
    };
    for scenario in &scenarios {
        if scenario.version == 2 {
            let line = steps::format_scenario(scenario);
            assert_eq!(steps::parse_line(&line).ok().as_ref(), Some(scenario));
        }
        if scenario.storage_size <= 1 << 24 {
            let _ = WalkBackend.run(scenario);
            let _ = TlbBackend.run(scenario);
        }
    }
});
