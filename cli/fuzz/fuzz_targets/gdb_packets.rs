//! The gdb stub's packet path (framing, gdbstub, the session) on arbitrary
//! client bytes: never a panic, never a hang (the guest ends at its
//! instruction limit), never an access outside guest storage. An input
//! whose first byte is odd is a list of packet bodies separated by `\n`,
//! each sent with its correct checksum (random bytes rarely checksum
//! right); otherwise the bytes are sent as they are.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zmmu_cli::gdb::packet::frame;
use zmmu_cli::gdb::replay::{replay, LOOP};
use zmmu_cli::gdb::session::Session;
use zmmu_machine::Machine;

fuzz_target!(|input: &[u8]| {
    let bytes: Vec<u8> = match input.split_first() {
        Some((first, rest)) if first & 1 == 1 => {
            rest.split(|&b| b == b'\n').flat_map(frame).collect()
        }
        _ => input.to_vec(),
    };
    let mut machine = Machine::new(1 << 20);
    machine.load(0x2_0000, &LOOP).unwrap();
    machine.start(0x2_0000);
    let mut quiet = ();
    let mut session = Session::new(&mut machine, &mut quiet, None, Some(20_000));
    let _ = replay(&bytes, &mut session);
});
