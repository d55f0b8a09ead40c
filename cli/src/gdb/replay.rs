//! A gdb session without a network: the client's bytes replayed from a
//! buffer, the stub's answers collected. For the tests and the fuzz target
//! of the packet path (`cd cli/fuzz && cargo +nightly fuzz run
//! gdb_packets`).

use std::io;

use gdbstub::conn::Connection;

use super::session::Session;
use super::{debug, Client, Ended};

/// The client: bytes in order. While the guest runs, only an interrupt
/// (0x03) arrives; the rest waits for the stop (as a client waits for the
/// stop reply), and the run ends by itself at the instruction limit.
struct Scripted<'a> {
    input: &'a [u8],
    answers: &'a mut Vec<u8>,
}

impl Client for Scripted<'_> {
    fn next(&mut self) -> io::Result<Option<u8>> {
        let Some((&first, rest)) = self.input.split_first() else {
            return Ok(None);
        };
        self.input = rest;
        Ok(Some(first))
    }

    fn poll(&mut self) -> io::Result<Option<u8>> {
        match self.input.first() {
            Some(3) => self.next(),
            _ => Ok(None),
        }
    }

    fn nak(&mut self) -> io::Result<()> {
        self.answers.push(b'-');
        Ok(())
    }

    fn reply(&mut self, body: &[u8]) -> io::Result<()> {
        self.answers.extend(super::packet::frame(body));
        Ok(())
    }
}

/// A guest for replays: LGHI 1,1 ; AGHI 1,1 ; STG 1,0x800 ; J back to the
/// AGHI, at 0x20000.
pub const LOOP: [u8; 18] = [
    0xa7, 0x19, 0x00, 0x01, 0xa7, 0x1b, 0x00, 0x01, 0xe3, 0x10, 0x08, 0x00, 0x00, 0x24, 0xa7, 0xf4,
    0xff, 0xfb,
];

/// What gdbstub writes.
struct Collect<'a>(&'a std::cell::RefCell<Vec<u8>>);

impl Connection for Collect<'_> {
    type Error = io::Error;

    fn write(&mut self, byte: u8) -> io::Result<()> {
        self.0.borrow_mut().push(byte);
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Replays `input` as a client's bytes against `session`: how the session
/// ended, and every byte the stub answered.
pub fn replay(input: &[u8], session: &mut Session<'_>) -> (Result<Ended, String>, Vec<u8>) {
    let written = std::cell::RefCell::new(Vec::new());
    let mut naks = Vec::new();
    let mut client = Scripted {
        input,
        answers: &mut naks,
    };
    let ended = debug(|| Ok(Collect(&written)), &mut client, session);
    let mut answers = written.into_inner();
    answers.extend(naks);
    (ended, answers)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gdb::packet::frame;
    use zmmu_machine::Machine;

    fn machine() -> Machine {
        let mut m = Machine::new(1 << 20);
        m.load(0x2_0000, &LOOP).unwrap();
        m.start(0x2_0000);
        m
    }

    fn packets(bodies: &[&str]) -> Vec<u8> {
        bodies.iter().flat_map(|b| frame(b.as_bytes())).collect()
    }

    #[test]
    fn a_watchpoint_on_a_store_stops_after_the_storing_instruction() {
        let mut m = machine();
        let mut quiet = ();
        let mut session = Session::new(&mut m, &mut quiet, None, Some(10_000));
        let input = packets(&["Z2,800,8", "c", "g", "D"]);
        let (ended, answers) = replay(&input, &mut session);
        assert_eq!(ended, Ok(Ended::Detached));
        let answers = String::from_utf8_lossy(&answers).into_owned();
        assert!(answers.contains("watch:0800;"), "{answers}");
        drop(session);
        // The STG ran: the PSW is at the J after it.
        assert_eq!(m.cpu.psw.addr, 0x2_000e);
        assert_eq!(m.cpu.gpr[1], 2);
    }

    #[test]
    fn a_step_is_one_instruction_and_a_continue_ends_with_the_guest() {
        let mut m = machine();
        let mut quiet = ();
        let mut session = Session::new(&mut m, &mut quiet, None, Some(1000));
        let (ended, answers) = replay(&packets(&["s", "s", "c"]), &mut session);
        assert_eq!(ended, Ok(Ended::Guest(zmmu_machine::Stop::LimitReached)));
        let answers = String::from_utf8_lossy(&answers);
        assert!(answers.contains("$W7c#"), "exit status 124: {answers}");
    }

    /// Arbitrary bytes (a fixed pseudo-random stream, and every packet
    /// kind with nonsense arguments) are answered: no panic, no connection
    /// error, the session ends only when the input does.
    #[test]
    fn noise_is_answered_and_the_session_outlives_it() {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut noise: Vec<u8> = (0..20_000)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                match state % 5 {
                    0 => b'$',
                    1 => b'#',
                    _ => (state >> 8) as u8,
                }
            })
            .collect();
        for kind in "gGmMpPXzZcsvqQHTk?D!".chars() {
            noise.extend(frame(format!("{kind}ffffffffffffffffff,zz:;,").as_bytes()));
        }
        let mut m = machine();
        let mut quiet = ();
        let mut session = Session::new(&mut m, &mut quiet, None, Some(100_000));
        let (ended, _) = replay(&noise, &mut session);
        assert_eq!(ended, Ok(Ended::Detached));
    }
}

#[cfg(all(test, target_arch = "x86_64"))]
mod jit_tests {
    use super::*;
    use crate::gdb::packet::frame;
    use zmmu_machine::Machine;

    /// AGHI 1,1 ; BRCT 2,back ; MVHHI 2(%r3),256 (the AGHI now adds 256) ;
    /// J back to the AGHI.
    const PATCHING: [u8; 18] = [
        0xa7, 0x1b, 0x00, 0x01, 0xa7, 0x26, 0xff, 0xfe, 0xe5, 0x44, 0x30, 0x02, 0x01, 0x00, 0xa7,
        0xf4, 0xff, 0xf9,
    ];

    /// 500 instructions without gdb, then a breakpoint after the patching
    /// store (so the interpreter runs it), then a continue to the limit.
    fn registers_after_patching(jit: Option<&mut zmmu_jit::Jit>) -> [u64; 16] {
        let mut m = Machine::new(1 << 20);
        m.load(0x2_0000, &PATCHING).unwrap();
        m.start(0x2_0000);
        m.cpu.gpr[2] = 1000;
        m.cpu.gpr[3] = 0x2_0000;
        let mut quiet = ();
        let mut session = Session::new(
            &mut m,
            &mut quiet,
            jit.map(|jit| jit as &mut dyn super::super::Translator),
            Some(100_000),
        );
        assert_eq!(session.run(500), None);
        let input: Vec<u8> = ["Z0,2000e,4", "c", "z0,2000e,4", "c"]
            .iter()
            .flat_map(|b| frame(b.as_bytes()))
            .collect();
        let (ended, _) = replay(&input, &mut session);
        assert_eq!(ended, Ok(Ended::Guest(zmmu_machine::Stop::LimitReached)));
        drop(session);
        m.cpu.gpr
    }

    /// The jit's blocks do not outlive a store the interpreter made while
    /// gdb had a breakpoint set.
    #[test]
    fn code_stored_while_stepping_is_what_the_jit_runs_afterwards() {
        let mut jit = zmmu_jit::Jit::new(zmmu_jit::DEFAULT_BUFFER).unwrap();
        let interpreted = registers_after_patching(None);
        assert_eq!(registers_after_patching(Some(&mut jit)), interpreted);
        assert!(interpreted[1] > 100_000, "the patched AGHI ran");
    }
}
