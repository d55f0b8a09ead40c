//! An operand is accessed even where the result does not depend on its
//! value: under the host MMU the load itself is the access check, so the
//! translated code must make it.

mod common;

use common::{program_machine, run_like, Quiet};
use zmmu_machine::Stop;
use zmmu_mmu::addr::AbsoluteAddress;
use zmmu_mmu::storage::Storage;

/// llilh r1,0x0200 (r1 = 32 MiB, outside the 16 MiB of storage) ;
/// tm 0(r1),0 ; then an invalid opcode.
const TM_MASK_ZERO_OUTSIDE_STORAGE: [u8; 10] =
    [0xa5, 0x1e, 0x02, 0x00, 0x91, 0x00, 0x10, 0x00, 0x00, 0x00];

#[test]
fn test_under_mask_with_a_zero_mask_still_fetches_its_operand() {
    let mut reference = program_machine(0x2000, &TM_MASK_ZERO_OUTSIDE_STORAGE);
    let expected = reference.run(Some(100), &mut Quiet);
    assert!(matches!(expected.stop, Stop::DisabledWait { .. }));
    let code = |m: &zmmu_machine::Machine| {
        let mut code = [0u8; 2];
        m.bus
            .storage
            .read(AbsoluteAddress::new(0x8e), &mut code)
            .unwrap();
        (
            u16::from_be_bytes(code),
            m.bus.storage.read_u64(AbsoluteAddress::new(0x158)).unwrap(),
        )
    };
    assert_eq!(code(&reference), (0x05, 0x2008), "addressing, suppressed");
    let Some((machine, _)) = run_like(
        &expected,
        program_machine(0x2000, &TM_MASK_ZERO_OUTSIDE_STORAGE),
        100,
    ) else {
        return;
    };
    assert_eq!(code(&machine), code(&reference));
}
