//! Guest-controlled input never panics the machine: random instruction
//! bytes, random DAT tables and control registers, random PSW modes; every
//! run ends with a stop reason within its instruction limit.

use proptest::prelude::*;
use zmmu_machine::{Machine, Stop};
use zmmu_mmu::addr::AbsoluteAddress;
use zmmu_mmu::storage::Storage;

const CODE: u64 = 0x20000;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_programs_stop_without_panicking(
        code in proptest::collection::vec(any::<u8>(), 2..256),
        tables in proptest::collection::vec(any::<u64>(), 64),
        lowcore in proptest::collection::vec(any::<u8>(), 0x200),
        cr in proptest::collection::vec(any::<u64>(), 16),
        dat in any::<bool>(),
        asc in 0u64..4,
        regs in proptest::collection::vec(any::<u64>(), 16),
    ) {
        let mut m = Machine::new(1 << 20);
        m.load(CODE, &code).unwrap();
        m.load(0, &lowcore).unwrap();
        // Tables at 0x10000: half plausible entries pointing into storage,
        // half raw noise.
        for (i, t) in tables.iter().enumerate() {
            let entry = if i % 2 == 0 { t & 0xF_FFFF } else { *t };
            m.bus.storage.write_u64(AbsoluteAddress::new(0x10000 + 8 * i as u64), entry).unwrap();
        }
        m.cpu.cr.copy_from_slice(&cr);
        m.cpu.cr[1] = 0x10000 | (cr[1] & 0xFFF);
        m.cpu.gpr.copy_from_slice(&regs);
        m.start(CODE);
        if dat {
            m.cpu.psw.mask |= 0x0400_0000_0000_0000 | (asc << 46);
        }
        let outcome = m.run(Some(2000), &mut ());
        prop_assert!(outcome.instructions <= 2000);
        let stopped = matches!(
            outcome.stop,
            Stop::DisabledWait { .. }
                | Stop::EnabledWaitForever { .. }
                | Stop::LimitReached
                | Stop::Unimplemented { .. }
                | Stop::CheckStop { .. }
        );
        prop_assert!(stopped);
    }
}
