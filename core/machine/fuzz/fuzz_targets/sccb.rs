//! Fuzzes SERVICE CALL over arbitrary storage contents, command words, SCCB
//! addresses, SCLP configurations and event histories (terminal input,
//! quiesce requests, resets): no panic, no hang, and each call changes no
//! byte of storage outside the SCCB (from its address for the length its
//! header held before the call), none at all when it ends in a program
//! exception, and signals completion with the SCCB's address.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use zmmu_machine::sclp::{command, Sclp, SclpConfig, Serviced};
use zmmu_mmu::addr::AbsoluteAddress;
use zmmu_mmu::storage::{OwnedStorage, Storage};

/// The commands the SCLP knows, to be picked more often than chance would.
const COMMANDS: [u32; 8] = [
    command::READ_SCP_INFO,
    command::READ_SCP_INFO_FORCED,
    command::READ_CPU_INFO,
    command::CONFIGURE_IOA,
    command::DECONFIGURE_IOA,
    command::READ_EVENT_DATA,
    command::WRITE_EVENT_DATA,
    command::WRITE_EVENT_MASK,
];

#[derive(Arbitrary, Debug)]
struct Config {
    memory_size: Option<u64>,
    cpus: Vec<u8>,
    max_cpus: u16,
    conf_char: [u8; 19],
    cpu_features: [u8; 6],
    extended_length_sccb: bool,
    fac134: u8,
    zpci: bool,
    vt220_console: bool,
    line_mode_console: bool,
    control_program_id: bool,
}

#[derive(Arbitrary, Debug)]
enum Command {
    /// A known command with any value in the ignored byte.
    Known(u8, u8),
    Raw(u32),
}

#[derive(Arbitrary, Debug)]
enum Address {
    /// A doubleword in storage above the low 8 KiB.
    Near(u16),
    Raw(u64),
}

#[derive(Arbitrary, Debug)]
enum Step {
    Call {
        command: Command,
        address: Address,
        /// Written at the SCCB address before the call (as far as storage
        /// reaches); its first two bytes are the SCCB length.
        body: Vec<u8>,
        /// A 16-bit length written over the body's first two bytes.
        length: Option<u16>,
        prefix: u16,
    },
    Input(Vec<u8>),
    Quiesce,
    Reset,
}

#[derive(Arbitrary, Debug)]
struct Input {
    /// Storage size in 4 KiB frames (3-34).
    frames: u8,
    fill: u8,
    config: Config,
    steps: Vec<Step>,
}

fn snapshot(storage: &OwnedStorage) -> Vec<u8> {
    let mut bytes = vec![0; storage.size() as usize];
    storage.read(AbsoluteAddress::new(0), &mut bytes).unwrap();
    bytes
}

fuzz_target!(|input: Input| {
    let size = (u64::from(input.frames % 32) + 3) << 12;
    let mut storage = OwnedStorage::new(size as usize);
    storage
        .write(AbsoluteAddress::new(0), &vec![input.fill; size as usize])
        .unwrap();
    let c = input.config;
    let mut sclp = Sclp::new(SclpConfig {
        memory_size: c.memory_size,
        cpus: c.cpus,
        max_cpus: c.max_cpus,
        conf_char: c.conf_char,
        cpu_features: c.cpu_features,
        extended_length_sccb: c.extended_length_sccb,
        fac134: c.fac134,
        zpci: c.zpci,
        vt220_console: c.vt220_console,
        line_mode_console: c.line_mode_console,
        control_program_id: c.control_program_id,
        ..SclpConfig::default()
    });
    for step in input.steps.into_iter().take(64) {
        match step {
            Step::Input(bytes) => {
                let taken = sclp.push_input(&bytes);
                assert!(taken <= bytes.len());
                assert!(sclp.pending_input() <= 4081);
            }
            Step::Quiesce => sclp.request_quiesce(),
            Step::Reset => sclp.reset(),
            Step::Call {
                command,
                address,
                mut body,
                length,
                prefix,
            } => {
                let command = match command {
                    Command::Known(i, middle) => {
                        COMMANDS[usize::from(i) % COMMANDS.len()] | u32::from(middle) << 8
                    }
                    Command::Raw(word) => word,
                };
                let sccb = match address {
                    Address::Near(n) => 0x2000 + (u64::from(n) * 8) % (size - 0x2000),
                    Address::Raw(a) => a,
                };
                if let (Some(length), Some(head)) = (length, body.get_mut(..2)) {
                    head.copy_from_slice(&length.to_be_bytes());
                }
                if sccb < size {
                    let n = body.len().min((size - sccb) as usize);
                    storage
                        .write(AbsoluteAddress::new(sccb), &body[..n])
                        .unwrap();
                }
                let before = snapshot(&storage);
                let declared = if sccb.checked_add(2).is_some_and(|end| end <= size) {
                    u64::from(u16::from_be_bytes([
                        before[sccb as usize],
                        before[sccb as usize + 1],
                    ]))
                } else {
                    0
                };
                let prefix = u64::from(prefix) << 13;
                let result = sclp.service_call(&mut storage, prefix, command, sccb);
                let after = snapshot(&storage);
                match result {
                    Ok(Serviced { parameter }) => {
                        assert_eq!(u64::from(parameter & !3), sccb & !3);
                        assert!(parameter & 2 == 0);
                        let start = sccb as usize;
                        let end = (sccb + declared) as usize;
                        assert!(end <= after.len());
                        assert_eq!(before[..start], after[..start]);
                        assert_eq!(before[end..], after[end..]);
                    }
                    Err(_) => assert!(before == after, "a program exception changes nothing"),
                }
            }
        }
    }
});
