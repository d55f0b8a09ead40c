//! Program-interruption codes, translation-exception identification and
//! the priority of the checks of one access (PoP ch. 6, Program
//! Interruption).

mod common;

use common::*;
use zmmu_mmu::entry::{PageEntry, TableEntry};
use zmmu_mmu::prelude::*;

/// A virtual address in segment 1, page 0x23, byte 0x456.
const VA: u64 = 0x0012_3456;
const VA_PAGE: u64 = 0x0012_3000;

fn esop(g: &mut Guest, facilities: Facilities) -> &mut Guest {
    g.controls
        .facilities
        .remove(Facilities::ESOP1 | Facilities::ESOP2);
    g.controls.facilities |= facilities;
    g
}

// ---- 3.1 Codes ----------------------------------------------------------------

#[test]
fn program_interruption_codes_have_architected_values() {
    let cases = [
        (Code::PROTECTION, 0x04),
        (Code::ADDRESSING, 0x05),
        (Code::SPECIFICATION, 0x06),
        (Code::SEGMENT_TRANSLATION, 0x10),
        (Code::PAGE_TRANSLATION, 0x11),
        (Code::TRANSLATION_SPECIFICATION, 0x12),
        (Code::SPECIAL_OPERATION, 0x13),
        (Code::ASCE_TYPE, 0x38),
        (Code::REGION_FIRST_TRANSLATION, 0x39),
        (Code::REGION_SECOND_TRANSLATION, 0x3A),
        (Code::REGION_THIRD_TRANSLATION, 0x3B),
    ];
    for (code, value) in cases {
        assert_eq!(code.0, value);
    }
}

#[test]
fn translation_exceptions_nullify_the_others_do_not() {
    for code in [0x10, 0x11, 0x38, 0x39, 0x3A, 0x3B] {
        assert!(Code(code).nullifies(), "{code:#x}");
    }
    for code in [0x04, 0x05, 0x06, 0x12, 0x13] {
        assert!(!Code(code).nullifies(), "{code:#x}");
    }
}

// ---- 3.2 TEID for translation exceptions --------------------------------------

#[test]
fn teid_reports_page_fetch_store_and_space() {
    // Nothing is mapped: every access is a segment-translation exception.
    let mut g = Guest::segment();
    g.controls.cr7 = g.controls.cr1;
    g.controls.cr13 = g.controls.cr1;
    let cases = [
        (AddressSpace::Primary, AccessKind::Read, Teid::FETCH),
        (
            AddressSpace::Primary,
            AccessKind::InstructionFetch,
            Teid::FETCH,
        ),
        (AddressSpace::Primary, AccessKind::Write, Teid::STORE),
        (
            AddressSpace::AccessRegister { alet: 0, ar: 5 },
            AccessKind::Write,
            Teid::STORE | 0b01,
        ),
        (
            AddressSpace::Secondary,
            AccessKind::Read,
            Teid::FETCH | 0b10,
        ),
        (
            AddressSpace::Home,
            AccessKind::InstructionFetch,
            Teid::FETCH | 0b11,
        ),
    ];
    for (space, kind, bits) in cases {
        let access_id = match space {
            AddressSpace::AccessRegister { ar, .. } => Some(ar),
            _ => None,
        };
        assert_eq!(
            g.access(space, kind, VA, 0),
            Err(Fault::Program(Exception {
                code: Code::SEGMENT_TRANSLATION,
                teid: Some(Teid(VA_PAGE | bits)),
                access_id,
                dxc: 0
            })),
            "{space:?} {kind:?}"
        );
    }
    assert_eq!((Teid::FETCH, Teid::STORE), (0x800, 0x400));
}

#[test]
fn teid_reports_bits_0_51_of_a_64_bit_address() {
    // An ASCE-type exception for an address far above 2 GiB.
    let mut g = Guest::segment();
    let va = 0x0123_4567_89AB_CDEF;
    assert_eq!(
        exception(g.read(va)).teid,
        Some(Teid(0x0123_4567_89AB_C000 | Teid::FETCH))
    );
}

#[test]
fn teid_for_every_translation_exception_code() {
    for (level, expected) in TRANSLATION_EXCEPTIONS {
        let mut g = Guest::mapped_from(Level::RegionFirst, VA, FRAME_A);
        g.or(level, VA, TableEntry::I);
        let e = exception(g.write(VA));
        assert_eq!(
            (e.code, e.teid),
            (expected, Some(Teid(VA_PAGE | Teid::STORE)))
        );
    }
    let mut g = Guest::mapped(VA, FRAME_A);
    g.or(Level::Page, VA, PageEntry::I);
    assert_eq!(
        exception(g.write(VA)).teid,
        Some(Teid(VA_PAGE | Teid::STORE))
    );
}

#[test]
fn teid_for_secondary_mode_instruction_fetch_reports_the_asce_used() {
    // The fetch uses CR1, and the TEID names the ASCE used: 00, as QEMU's
    // vectors show and Hercules does (docs/CHOICES.md).
    let mut g = Guest::segment();
    g.controls.cr7 = asce(STORAGE * 2, Level::Segment, 3);
    let e = exception(g.access(AddressSpace::Secondary, AccessKind::InstructionFetch, VA, 0));
    assert_eq!(e.code, Code::SEGMENT_TRANSLATION);
    assert_eq!(e.teid, Some(Teid(VA_PAGE | Teid::FETCH)));
}

#[test]
fn translation_specification_stores_no_teid() {
    let mut g = Guest::mapped(VA, FRAME_A);
    g.or(Level::Page, VA, PageEntry::ZERO);
    assert_eq!(
        exception(g.write(VA)),
        Exception::new(Code::TRANSLATION_SPECIFICATION)
    );
}

#[test]
fn addressing_exception_stores_no_teid() {
    let mut g = Guest::mapped(VA, STORAGE);
    assert_eq!(exception(g.write(VA)), Exception::new(Code::ADDRESSING));
}

// ---- 3.3 TEID for protection ------------------------------------------------

/// A guest where VA is DAT-protected, page 0 is under LAP, FRAME_A has key 7
/// and fetch protection, and VA + 0x1000 (FRAME_B) is IEP.
fn protected() -> Guest {
    let mut g = Guest::segment();
    g.iep();
    g.cr0(Cr0::LOW_ADDRESS_PROTECTION);
    g.map(VA, FRAME_A);
    g.or(Level::Page, VA, PageEntry::P);
    g.map(VA + 0x1000, FRAME_B);
    g.or(Level::Page, VA + 0x1000, PageEntry::IEP);
    g.map(0x100, FRAME_C);
    g.set_key(FRAME_A, 0x78);
    g
}

fn dat(g: &mut Guest) -> Exception {
    exception(g.write(VA))
}
fn key(g: &mut Guest) -> Exception {
    exception(g.access(AddressSpace::Primary, AccessKind::Read, VA, 6))
}
fn lap(g: &mut Guest) -> Exception {
    exception(g.write(0x100))
}
fn iep(g: &mut Guest) -> Exception {
    exception(g.fetch(VA + 0x1000))
}

#[test]
fn esop2_protection_codes() {
    let mut g = protected();
    esop(&mut g, Facilities::ESOP1 | Facilities::ESOP2);
    assert_eq!(dat(&mut g).teid, Some(Teid(VA_PAGE | Teid::STORE | 0x04)));
    assert_eq!(key(&mut g).teid, Some(Teid(VA_PAGE | Teid::FETCH | 0x08)));
    assert_eq!(lap(&mut g).teid, Some(Teid(Teid::STORE | 0x80)));
    assert_eq!(
        iep(&mut g).teid,
        Some(Teid((VA_PAGE + 0x1000) | Teid::FETCH | 0x84))
    );
}

#[test]
fn esop1_identifies_dat_protection_only() {
    let mut g = protected();
    esop(&mut g, Facilities::ESOP1);
    assert_eq!(dat(&mut g).teid, Some(Teid(VA_PAGE | Teid::STORE | 0x04)));
    assert_eq!(key(&mut g).teid, None);
    assert_eq!(lap(&mut g).teid, None);
}

#[test]
fn without_esop_the_protection_teid_is_unpredictable() {
    let mut g = protected();
    esop(&mut g, Facilities::empty());
    for e in [dat(&mut g), key(&mut g), lap(&mut g)] {
        assert_eq!((e.code, e.teid), (Code::PROTECTION, None));
    }
}

#[test]
fn iep_implies_the_esop2_code() {
    let mut g = protected();
    esop(&mut g, Facilities::empty());
    assert_eq!(
        iep(&mut g).teid,
        Some(Teid((VA_PAGE + 0x1000) | Teid::FETCH | 0x84))
    );
}

#[test]
fn protection_in_access_register_mode_reports_the_access_register() {
    let mut g = protected();
    esop(&mut g, Facilities::ESOP2);
    let space = AddressSpace::AccessRegister { alet: 0, ar: 9 };
    let e = exception(g.access(space, AccessKind::Write, VA, 0));
    assert_eq!(e.access_id, Some(9));
    assert_eq!(e.teid, Some(Teid(VA_PAGE | Teid::STORE | 0x04 | 0b01)));
}

// ---- 3.4 Priority -------------------------------------------------------------

#[test]
fn asce_type_precedes_asce_table_length() {
    let mut g = Guest::segment();
    g.controls.cr1 = asce(ST, Level::Segment, 0);
    assert_eq!(code(g.read(1 << 31)), Code::ASCE_TYPE);
}

#[test]
fn invalid_bit_precedes_table_type() {
    let mut g = Guest::mapped(VA, FRAME_A);
    g.set(
        Level::Segment,
        VA,
        PT | TableEntry::I | tt(Level::RegionFirst),
    );
    assert_eq!(code(g.read(VA)), Code::SEGMENT_TRANSLATION);
}

#[test]
fn dat_protection_precedes_operand_addressing() {
    let mut g = Guest::mapped(VA, STORAGE);
    g.or(Level::Page, VA, PageEntry::P);
    assert_eq!(code(g.write(VA)), Code::PROTECTION);
    assert_eq!(code(g.read(VA)), Code::ADDRESSING);
}

#[test]
fn iep_precedes_operand_addressing() {
    let mut g = Guest::segment();
    g.iep();
    g.map(VA, STORAGE);
    g.or(Level::Page, VA, PageEntry::IEP);
    assert_eq!(code(g.fetch(VA)), Code::PROTECTION);
}

#[test]
fn operand_addressing_precedes_key_protection() {
    let mut g = Guest::mapped(VA, STORAGE);
    assert_eq!(
        code(g.access(AddressSpace::Primary, AccessKind::Write, VA, 6)),
        Code::ADDRESSING
    );
}

#[test]
fn dat_protection_precedes_key_protection() {
    let mut g = Guest::segment();
    g.facilities(Facilities::ESOP2);
    g.map(VA, FRAME_A);
    g.or(Level::Page, VA, PageEntry::P);
    g.set_key(FRAME_A, 0x70);
    let e = exception(g.access(AddressSpace::Primary, AccessKind::Write, VA, 6));
    assert_eq!(e.teid, Some(Teid(VA_PAGE | Teid::STORE | 0x04)));
}

#[test]
fn translation_exceptions_precede_protection() {
    // A fetch-protected frame behind an invalid page entry: 0x11, not 0x04.
    let mut g = Guest::mapped(VA, FRAME_A);
    g.set_key(FRAME_A, 0x78);
    g.or(Level::Page, VA, PageEntry::I | PageEntry::P);
    assert_eq!(
        code(g.access(AddressSpace::Primary, AccessKind::Write, VA, 6)),
        Code::PAGE_TRANSLATION
    );
}
