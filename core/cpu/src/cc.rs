//! Condition-code rules as pure functions (PoP "Condition Code" in each
//! instruction's description). They take operands already extended to 64
//! bits and a [`Width`]; 32-bit operations look only at bits 32-63.

use super::sem::Width;

/// Result of an arithmetic operation: the value (for 32-bit widths in the
/// low 32 bits), the condition code and whether a signed overflow occurred.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArithResult {
    /// The result bits.
    pub value: u64,
    /// The condition code.
    pub cc: u8,
    /// Signed overflow (cc 3 of the signed arithmetic instructions), which
    /// raises a fixed-point-overflow exception when PSW bit 20 is one.
    pub overflow: bool,
}

const fn plain(value: u64, cc: u8) -> ArithResult {
    ArithResult {
        value,
        cc,
        overflow: false,
    }
}

/// Sign-extend the `w`-bit value `v`.
pub const fn signed(v: u64, w: Width) -> i64 {
    match w {
        Width::W32 => v as u32 as i32 as i64,
        Width::W64 => v as i64,
    }
}

/// Zero-extend the `w`-bit value `v`.
pub const fn unsigned(v: u64, w: Width) -> u64 {
    match w {
        Width::W32 => v as u32 as u64,
        Width::W64 => v,
    }
}

/// cc 0 zero, 1 negative, 2 positive (load and test, arithmetic results).
pub const fn sign_cc(v: u64, w: Width) -> u8 {
    let s = signed(v, w);
    if s == 0 {
        0
    } else if s < 0 {
        1
    } else {
        2
    }
}

/// cc 0 if the `w`-bit value is zero, else 1 (AND, OR, XOR).
pub const fn zero_cc(v: u64, w: Width) -> u8 {
    (unsigned(v, w) != 0) as u8
}

/// Signed add: cc 0 zero, 1 < 0, 2 > 0, 3 overflow.
pub const fn add(a: u64, b: u64, w: Width) -> ArithResult {
    let (value, overflow) = match w {
        Width::W32 => {
            let (r, o) = (a as i32).overflowing_add(b as i32);
            (r as u32 as u64, o)
        }
        Width::W64 => {
            let (r, o) = (a as i64).overflowing_add(b as i64);
            (r as u64, o)
        }
    };
    ArithResult {
        value,
        cc: if overflow { 3 } else { sign_cc(value, w) },
        overflow,
    }
}

/// Signed subtract, cc as [`add`].
pub const fn sub(a: u64, b: u64, w: Width) -> ArithResult {
    let (value, overflow) = match w {
        Width::W32 => {
            let (r, o) = (a as i32).overflowing_sub(b as i32);
            (r as u32 as u64, o)
        }
        Width::W64 => {
            let (r, o) = (a as i64).overflowing_sub(b as i64);
            (r as u64, o)
        }
    };
    ArithResult {
        value,
        cc: if overflow { 3 } else { sign_cc(value, w) },
        overflow,
    }
}

/// Logical add with carry in: cc = (result != 0) + 2 * carry out.
pub const fn add_logical(a: u64, b: u64, carry: bool, w: Width) -> ArithResult {
    let sum = unsigned(a, w) as u128 + unsigned(b, w) as u128 + carry as u128;
    let value = unsigned(sum as u64, w);
    let carry_out = (sum >> w.bits()) != 0;
    plain(value, (value != 0) as u8 | ((carry_out as u8) << 1))
}

/// Logical subtract with borrow in: computed as a + !b + (1 - borrow);
/// cc = (result != 0) + 2 * carry out (carry out means "no borrow").
pub const fn sub_logical(a: u64, b: u64, borrow: bool, w: Width) -> ArithResult {
    add_logical(a, unsigned(!b, w), !borrow, w)
}

/// Signed compare: cc 0 equal, 1 first low, 2 first high.
pub const fn compare(a: u64, b: u64, w: Width) -> u8 {
    let (a, b) = (signed(a, w), signed(b, w));
    if a == b {
        0
    } else if a < b {
        1
    } else {
        2
    }
}

/// Logical compare: cc 0 equal, 1 first low, 2 first high.
pub const fn compare_logical(a: u64, b: u64, w: Width) -> u8 {
    let (a, b) = (unsigned(a, w), unsigned(b, w));
    if a == b {
        0
    } else if a < b {
        1
    } else {
        2
    }
}

/// Load complement: cc as [`sub`] from zero; overflow for the maximum
/// negative number.
pub const fn complement(b: u64, w: Width) -> ArithResult {
    sub(0, b, w)
}

/// Load positive: cc 0 zero, 2 positive, 3 overflow (maximum negative).
pub const fn positive(b: u64, w: Width) -> ArithResult {
    if signed(b, w) < 0 {
        complement(b, w)
    } else {
        plain(unsigned(b, w), sign_cc(b, w))
    }
}

/// Load negative: cc 0 zero, 1 negative.
pub const fn negative(b: u64, w: Width) -> ArithResult {
    if signed(b, w) > 0 {
        complement(b, w)
    } else {
        plain(unsigned(b, w), sign_cc(b, w))
    }
}

/// Test under mask of an immediate field: cc 0 selected bits all zero (or
/// mask zero), 3 all one, otherwise 1 if the leftmost selected bit is zero
/// and 2 if it is one (TMLL family). TM and TMY use [`test_under_mask_byte`].
pub const fn test_under_mask(value: u64, mask: u64) -> u8 {
    let sel = value & mask;
    if sel == 0 {
        0
    } else if sel == mask {
        3
    } else {
        let leftmost = 63 - mask.leading_zeros() as u64;
        if value & (1 << leftmost) != 0 {
            2
        } else {
            1
        }
    }
}

/// TM/TMY: cc 0 selected bits zero, 1 mixed, 3 all one.
pub const fn test_under_mask_byte(value: u8, mask: u8) -> u8 {
    let sel = value & mask;
    if sel == 0 {
        0
    } else if sel == mask {
        3
    } else {
        1
    }
}

/// Does branch mask `m` (4 bits, bit 8 = cc 0) select condition code `cc`?
pub const fn mask_selects(m: u8, cc: u8) -> bool {
    (m >> (3 - (cc & 3))) & 1 != 0
}
