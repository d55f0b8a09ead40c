//! The absolute-storage layout shared by the driver and the probe program
//! (`conformance/gen/probe.c`), and the reserved ranges scenarios never use.

/// Storage size of the reference machine (QEMU `-m`, Hercules `MAINSIZE`).
pub const STORAGE_SIZE: u64 = 32 << 20;
/// The probe program: code, data and stack up to 0x2ffff (`probe.ld`);
/// 0x30000-0xfffff stays unused.
pub const PROBE_START: u64 = 0x2_0000;
/// The page of snippets executed with DAT on; every primary and home
/// table maps it at the same logical address.
pub const SNIPPET_PAGE: u64 = 0x2_0000;
/// Where the probe writes its result records.
pub const RESULTS_ADDR: u64 = 0x10_0000;
/// Size of the results area.
pub const RESULTS_SIZE: u64 = 0x10_0000;
/// Where the batch blob is loaded.
pub const BLOB_ADDR: u64 = 0x20_0000;
/// Largest batch blob.
pub const BLOB_SIZE: u64 = 0x20_0000;
/// First frame of the DAT-table zone.
pub const TABLE_ZONE: u64 = 0x40_0000;
/// End (exclusive) of the DAT-table zone; data frames follow.
pub const DATA_ZONE: u64 = 0x80_0000;
/// Words in one result record.
pub const RECORD_WORDS: usize = 12;
/// Result records that fit in the results area.
pub const MAX_RECORDS: usize = ((RESULTS_SIZE - 64) / (RECORD_WORDS as u64 * 8)) as usize;
/// Frames tagged by the probe at start: the low region below the program
/// and the table and data zones (first frame, end frame).
pub const TAG_RANGES: [(u64, u64); 2] = [
    (0, PROBE_START >> 12),
    (TABLE_ZONE >> 12, STORAGE_SIZE >> 12),
];
