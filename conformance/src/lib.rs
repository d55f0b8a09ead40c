//! `zmmu-conformance`: DAT conformance vectors (the format is in
//! `spec/dat-vectors.md`, version 2 in `vectors/FORMAT-v2.md`), their generator against a reference machine, and
//! one runner that checks every backend.
//!
//! ```
//! use zmmu_conformance::{backend::WalkBackend, runner, steps};
//!
//! let line = r#"{"name":"s","facilities":[],"storage_size":"0x100000","prefix":"0x0","cr0":"0x0","cr1":"0x0","cr7":"0x0","cr13":"0x0","mem":[],"keys":[],"probes":[{"addr":"0x3000","space":"real","amode":64,"access":"read","key":0,"expect":{"real":"0x3000","abs":"0x3000"},"key_after":4}]}"#;
//! let files = [runner::VectorFile { name: "inline".into(), scenarios: steps::parse_str("inline", line).unwrap() }];
//! let report = runner::run(&mut WalkBackend, &files, 10, |_| {});
//! assert_eq!(runner::summary_line(&report.total), "1 steps, 1 passed, 0 failed");
//! ```
#![deny(missing_docs)]
#![deny(missing_debug_implementations)]
#![forbid(unsafe_code)]

pub mod backend;
pub mod execute;
pub mod gen;
pub mod machine;
pub mod runner;
pub mod steps;
pub mod vector;
