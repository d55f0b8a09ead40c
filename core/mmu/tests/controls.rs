//! The control state DAT reads, built from the 16 control registers (PoP
//! ch. 4, Control Registers; ch. 3, Translation Control).

use zmmu_mmu::prelude::*;

/// The CR0 mask of an IBM bit number.
const fn bit(n: u32) -> u64 {
    1 << (63 - n)
}

#[test]
fn the_translation_bits_of_cr0_are_35_and_37_to_40_and_43() {
    assert_eq!(
        Cr0::TRANSLATION_BITS.bits(),
        bit(35) | bit(37) | bit(38) | bit(39) | bit(40) | bit(43)
    );
}

#[test]
fn controls_from_registers_keep_only_the_translation_bits_of_cr0() {
    let mut cr = [0u64; 16];
    cr[0] = u64::MAX;
    cr[1] = 0x1000 | 3;
    cr[7] = 0x2000 | 3;
    cr[13] = 0x3000 | 3;
    // Registers DAT does not read change nothing.
    cr[2] = 0xDEAD;
    cr[14] = 0xBEEF;
    let prefix = Prefix::new(0x8000);
    let controls = Controls::from_registers(&cr, prefix, Facilities::EDAT1);
    assert_eq!(
        controls,
        Controls {
            cr0: Cr0::TRANSLATION_BITS,
            cr1: Asce::new(0x1003),
            cr7: Asce::new(0x2003),
            cr13: Asce::new(0x3003),
            prefix,
            facilities: Facilities::EDAT1,
        }
    );
    assert!(controls.edat1());
    cr[0] = bit(56); // an interruption subclass mask
    assert_eq!(
        Controls::from_registers(&cr, prefix, Facilities::EDAT1).cr0,
        Cr0::empty()
    );
}
