//! Linux's return to a process (docs/CHOICES.md 77): the LPSWE in the
//! prefix area (`__LC_RETURN_LPSWE`) the dispatcher misses at, which the
//! translator never translates, completed by the image with the
//! interpreter's semantics, the root switched through the gate
//! ([`crate::gate`]).

use zmmu_cpu::decode::decode;
use zmmu_cpu::exec::Next;
use zmmu_cpu::opcode::Opcode;
use zmmu_cpu::state::{mask, Cpu};
use zmmu_mmu::prefix::PREFIX_AREA;

use crate::call::run_alone;
use crate::gate::{may_go_on, switch};
use crate::guest::{CpuPage, Guest};
use crate::protocol::{Gate, Shared};

/// The dispatcher missed at `cpu`'s PSW address: if the instruction
/// there is an LPSWE in the prefix area (Linux's return to a process),
/// completes it as the interpreter does and answers the jump cache's
/// bits under the new PSW, with the root switched through the gate, the
/// CPU page's PSW and the context's bits set; `None`, having changed
/// nothing, when the host must run it:
/// - the fetch as the interpreter checks it (PoP ch. 3: DAT, protection,
///   prefixing, addressing) from the prefix area, in one page, with the
///   PSW key 0, no PER, not the access-register mode, a valid PSW; its
///   bytes read through the root (the PSW's space and key: a mapping
///   there recorded the frame's reference);
/// - its operand fetched through the root as the interpreter fetches it
///   (an exception, a fault the host does not map: the host's);
/// - the new PSW valid, no wait, no PER, an even address (PoP ch. 4
///   "Early Exception Recognition": the host's), changed only in the
///   bits blocks are made for, the condition code and the I/O and
///   external masks, those only below the host's mask floor (nothing may
///   become pending: `Shared::mask_floor`);
/// - its root and fetch controls published ([`crate::gate::published`]), the budget
///   positive, the gate's answer yes.
///
/// `context_bits` is the translator's context's PSW bits (the dispatcher
/// reads them at each lookup).
pub fn lpswe(
    cpu: &mut Cpu,
    shared: &mut Shared,
    page: &mut CpuPage,
    gate: &Gate,
    frames: &[u64],
    context_bits: &mut u64,
    guest: &mut impl Guest,
) -> Option<u64> {
    let psw = cpu.psw;
    let at = psw.addr;
    if !psw.is_valid()
        || psw.key() != 0
        || psw.mask & mask::PER != 0
        || (psw.dat() && psw.asc() == 1)
        || at & 0xfff > 0x1000 - 4
        || (shared.budget as i64) <= 0
        || shared.absolute_size == 0
    {
        return None;
    }
    let absolute = crate::guest::fetch_absolute(cpu, shared, &*guest, at)?;
    let prefix = cpu.prefix.value();
    if !(prefix..prefix + PREFIX_AREA).contains(&absolute) {
        return None;
    }
    // The bytes through the root, whose mapping of the page recorded its
    // reference (a change of the frame's key drops it): the fetch's
    // reference is recorded already, as the interpreter's fetch records it.
    let mut bytes = [0u8; 4];
    if !guest.load(at, &mut bytes) {
        return None;
    }
    let insn = decode(&bytes)
        .ok()
        .filter(|insn| insn.op == Opcode::LPSWE)?;
    let before = cpu.clone();
    let (result, now) = run_alone(cpu, shared, frames, guest, insn, at);
    let mut rest = cpu.clone();
    rest.psw = before.psw;
    let target = (result == Some(Next::NewPsw)
        && rest == before
        && may_go_on(psw.mask, &cpu.psw, shared.mask_floor, now))
    .then(|| switch(cpu, shared, page, gate, context_bits, guest))
    .flatten();
    let Some(bits) = target else {
        *cpu = before;
        return None;
    };
    shared.charged = 1;
    shared.lpswes += 1;
    Some(bits)
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::call::load_cpu;
    use crate::gate::{fetch_controls, root_tag, INTERRUPTION_MASKS, KEY_BITS};
    use crate::protocol::{controls_words, root_words};
    use crate::protocol::{ClockPage, GATE_ROOTS, GATE_SPACES};
    use std::vec;
    use std::vec::Vec;
    use zmmu_cpu::state::offset;
    use zmmu_mmu::control::{Controls, Facilities};

    /// Flat storage of 64 KiB, DAT off and the prefix 0: the root and the
    /// absolute window read the same bytes. The gate answers `grant` and
    /// records the index asked for.
    struct Flat {
        bytes: Vec<u8>,
        grant: bool,
        asked: Option<u64>,
    }

    impl Guest for Flat {
        fn load(&mut self, addr: u64, buf: &mut [u8]) -> bool {
            let at = addr as usize;
            match self.bytes.get(at..at + buf.len()) {
                Some(bytes) => {
                    buf.copy_from_slice(bytes);
                    true
                }
                None => false,
            }
        }
        fn store(&mut self, _: u64, _: &[u8]) -> bool {
            false
        }
        fn compare_swap(&mut self, _: u64, _: usize, _: u128, _: u128) -> Option<u128> {
            None
        }
        fn read_absolute(&self, addr: u64, buf: &mut [u8]) {
            let at = addr as usize;
            buf.copy_from_slice(&self.bytes[at..at + buf.len()]);
        }
        fn store_absolute(&mut self, _: u64, _: &[u8]) {}
        fn tsc(&mut self) -> u64 {
            0
        }
        fn take_transient(&mut self) -> bool {
            false
        }
        fn gate(&mut self, index: u64) -> bool {
            self.asked = Some(index);
            self.grant
        }
        fn load_table(&self, _: u64) -> u64 {
            unreachable!("no shadow fills here")
        }

        fn store_table(&mut self, _: u64, _: u64) {
            unreachable!("no shadow fills here")
        }
    }

    /// The kernel's PSW: supervisor state, DAT off, 64-bit addressing.
    const KERNEL: u64 = mask::EA | mask::BA;
    /// The process's: the problem state.
    const PROCESS: u64 = KERNEL | mask::PROBLEM;

    /// `lpswe 0x210` at 0x400, the new PSW (`mask`, `addr`) at 0x210.
    fn guest(mask: u64, addr: u64) -> Flat {
        let mut bytes = vec![0u8; 0x10000];
        bytes[0x400..0x404].copy_from_slice(&[0xb2, 0xb2, 0x02, 0x10]);
        bytes[0x210..0x218].copy_from_slice(&mask.to_be_bytes());
        bytes[0x218..0x220].copy_from_slice(&addr.to_be_bytes());
        Flat {
            bytes,
            grant: true,
            asked: None,
        }
    }

    /// The shared page: storage, a budget, a clock standing still and
    /// the mask floor `floor`.
    fn shared(floor: u64) -> Shared {
        Shared {
            absolute_size: 0x10000,
            budget: 10,
            mask_floor: floor,
            clock: ClockPage {
                valid: 1,
                epoch: 1000,
                ..ClockPage::default()
            },
            ..Shared::default()
        }
    }

    /// The gate with the root of the real space for the key 0 at index
    /// 3 and the real space's fetch controls under tag 1 (the others
    /// empty).
    fn gate() -> Gate {
        let mut cpu = Cpu::new();
        cpu.psw.mask = PROCESS;
        let controls = Controls::from_registers(&cpu.cr, cpu.prefix, Facilities::empty());
        let mut gate = Gate {
            roots: [[0; 2]; GATE_ROOTS],
            spaces: [[u64::MAX; 6]; GATE_SPACES],
            spaces_len: 2,
            tables: [0; GATE_ROOTS],
        };
        gate.roots[3] = root_words(&root_tag(&cpu, &controls).unwrap());
        gate.spaces[1] = controls_words(&fetch_controls(&cpu, controls));
        gate
    }

    /// The page of the kernel at the miss.
    fn page() -> CpuPage {
        let mut page = [0u64; 512];
        page[offset::PSW_MASK / 8] = KERNEL;
        page
    }

    /// Runs the image's LPSWE at `at`: its answer, the page, the context's
    /// bits and the guest after it.
    fn switch(
        at: u64,
        mut guest: Flat,
        mut shared: Shared,
        gate: &Gate,
    ) -> (Option<u64>, CpuPage, u64, Flat, Shared) {
        let mut page = page();
        let mut cpu = load_cpu(&page, &shared.clock);
        cpu.psw.addr = at;
        let mut bits = 0;
        let answer = lpswe(
            &mut cpu,
            &mut shared,
            &mut page,
            gate,
            &[],
            &mut bits,
            &mut guest,
        );
        (answer, page, bits, guest, shared)
    }

    #[test]
    fn an_lpswe_in_the_lowcore_switches_through_the_gate() {
        let (answer, page, bits, guest, shared) =
            switch(0x400, guest(PROCESS, 0x3000), shared(0), &gate());
        assert_eq!(answer, Some(PROCESS & KEY_BITS | 1));
        assert_eq!(bits, PROCESS & KEY_BITS | 1);
        assert_eq!(guest.asked, Some(3));
        assert_eq!(page[offset::PSW_MASK / 8], PROCESS);
        assert_eq!(page[offset::PSW_ADDR / 8], 0x3000);
        assert_eq!((shared.charged, shared.lpswes, shared.fetch_tag), (1, 1, 1));
    }

    #[test]
    fn the_masks_change_only_below_the_hosts_floor() {
        let masked = PROCESS | INTERRUPTION_MASKS;
        for (floor, done) in [(0, false), (1000, false), (u64::MAX, true)] {
            let (answer, ..) = switch(0x400, guest(masked, 0x3000), shared(floor), &gate());
            assert_eq!(answer.is_some(), done, "floor {floor}");
        }
    }

    /// What the image leaves to the host changes nothing and asks no root.
    #[test]
    fn what_the_image_does_not_complete_is_the_hosts() {
        let refused = |at: u64, guest: Flat, shared: Shared, gate: &Gate| {
            let (answer, page, bits, guest, after) = switch(at, guest, shared, gate);
            assert_eq!((answer, bits, after.charged, after.lpswes), (None, 0, 0, 0));
            assert_eq!(page, super::tests::page());
            guest.asked
        };
        let plain = || guest(PROCESS, 0x3000);
        // The wait state, PER, an invalid PSW, an odd address.
        for new in [
            guest(PROCESS | mask::WAIT, 0x3000),
            guest(PROCESS | mask::PER, 0x3000),
            guest(PROCESS | 1 << 63, 0x3000),
            guest(PROCESS, 0x3001),
        ] {
            assert_eq!(refused(0x400, new, shared(0), &gate()), None);
        }
        // Not in the prefix area; storage ends before the lowcore's page.
        let mut elsewhere = plain();
        elsewhere.bytes[0x3400..0x3404].copy_from_slice(&[0xb2, 0xb2, 0x02, 0x10]);
        assert_eq!(refused(0x3400, elsewhere, shared(0), &gate()), None);
        let small = Shared {
            absolute_size: 0x100,
            ..shared(0)
        };
        assert_eq!(refused(0x400, plain(), small, &gate()), None);
        // No budget left.
        let spent = Shared {
            budget: 0,
            ..shared(0)
        };
        assert_eq!(refused(0x400, plain(), spent, &gate()), None);
        // The root or the fetch controls not published.
        let mut no_root = gate();
        no_root.roots[3] = [0; 2];
        assert_eq!(refused(0x400, plain(), shared(0), &no_root), None);
        let mut no_space = gate();
        no_space.spaces_len = 1;
        assert_eq!(refused(0x400, plain(), shared(0), &no_space), None);
        // The handler refuses the index (the host took the root out).
        let mut denied = plain();
        denied.grant = false;
        assert_eq!(refused(0x400, denied, shared(0), &gate()), Some(3));
    }
}
