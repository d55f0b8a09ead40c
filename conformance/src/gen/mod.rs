//! The conformance vector generator: scenario plans from a seed, the batch
//! format of the bare-metal probe, the reference machines that run it, and
//! the coverage table of the resulting vectors.

pub mod blob;
pub mod coverage;
pub mod driver;
pub mod layout;
pub mod plan;
pub mod prng;
pub mod record;
pub mod reference;
pub mod sequence;
pub mod step_coverage;
pub mod step_record;
