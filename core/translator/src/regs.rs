//! The block-local register cache's state (docs/CHOICES.md §44): which
//! guest general registers the host registers hold at a point of a
//! block's code, which compare the host flags hold (docs/CHOICES.md
//! §52a), and a condition code not stored yet (docs/CHOICES.md §58a).
//! `Gen` (in `emit`) emits its loads and writes.

use iced_x86::code_asm::*;

#[cfg(doc)]
use crate::abi;

/// The host registers of the block-local register cache: registers the
/// translated-code ABI leaves free ([`abi`]). A call out of translated code
/// (the helper, the fills) clobbers the caller-saved ones, and the
/// interpreter may change any guest register, so the code after a call
/// reloads them all from the CPU state.
pub(crate) const CACHE: [AsmRegister64; 5] = [r8, r9, r10, r11, r14];

/// The block-local register cache (docs/CHOICES.md §44, §70): which
/// guest general register each host register of [`CACHE`] holds at this
/// point of the emitted code, and which of them the CPU state does not
/// hold yet (`dirty`). Under the host MMU every write of a cached
/// register stores to the CPU state too (write-through: a fault at any
/// access sees the exact state); under the software TLB a write stays in
/// the host register (write-back) and the code stores the dirty ones
/// wherever anything else may read the state: before a slow path, a
/// fill's call, an instruction written for the state rather than the
/// cache, and every exit (`Gen::flush`). Where control joins after a call
/// (a fill, a slow path) the code reloads what the cache says from the
/// state (`Gen::reload`). A host register may hold only bits 32-63 of
/// its guest register (a 32-bit result, a 32-bit operand): loading the
/// whole register from the state right after a 32-bit store to it would
/// wait for the store (docs/CHOICES.md §35).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Regs {
    pub(crate) held: [Option<u8>; CACHE.len()],
    /// Whether each holds all 64 bits (else bits 32-63, zero-extended).
    pub(crate) whole: [bool; CACHE.len()],
    /// Whether each holds a value the CPU state does not have yet (a
    /// write-back not made; see [`Regs`]).
    pub(crate) dirty: [bool; CACHE.len()],
    /// When each was last used (for the least-recently-used choice).
    pub(crate) used: [u32; CACHE.len()],
    clock: u32,
    /// The frame holds the PSW's cc byte with the cc clear
    /// ([`abi::FRAME_CC_BYTE`]).
    pub(crate) cc_base: bool,
}

impl Regs {
    /// Whether it holds any register.
    pub(crate) fn any(&self) -> bool {
        self.cc_base || self.held.iter().any(Option::is_some)
    }

    pub(crate) fn slot(&self, r: u8) -> Option<usize> {
        self.held.iter().position(|&h| h == Some(r & 15))
    }

    pub(crate) fn touch(&mut self, slot: usize) {
        self.clock += 1;
        self.used[slot] = self.clock;
    }

    /// What both `self` and `other` hold: where two ways into the same
    /// code meet (the registers each holds in the same host register,
    /// all 64 bits where both hold all of them, dirty where either way
    /// has it dirty), keeping `self`'s use order. A way in writes back
    /// first what it holds dirty and the result does not (`Gen::join`).
    pub(crate) fn common(&self, other: &Regs) -> Regs {
        let mut out = *self;
        for slot in 0..CACHE.len() {
            if self.held[slot] == other.held[slot] {
                out.whole[slot] &= other.whole[slot];
                out.dirty[slot] |= other.dirty[slot];
            } else {
                out.held[slot] = None;
                out.dirty[slot] = false;
            }
        }
        out.cc_base &= other.cc_base;
        out
    }

    /// Whether this state, where ways into the same code meet, keeps
    /// `slot` as the way in `way` holds it: the same guest register (or
    /// none), all 64 bits in both or in neither. Where it does not, that
    /// way writes back its slot first if it holds it dirty.
    pub(crate) fn keeps(&self, way: &Regs, slot: usize) -> bool {
        self.held[slot] == way.held[slot] && self.whole[slot] == way.whole[slot]
    }

    /// `slot` now holds `r`, all of it or bits 32-63 (`whole`), as the
    /// CPU state has it.
    pub(crate) fn assign(&mut self, slot: usize, r: u8, whole: bool) -> usize {
        self.held[slot] = Some(r & 15);
        self.whole[slot] = whole;
        self.dirty[slot] = false;
        self.touch(slot);
        slot
    }
}

/// What the host flags hold at the start of an instruction: the result of
/// the `cmp` (or `test`, a signed compare with zero) that set the
/// condition code in the instruction before, whose cc is 0 equal, 1 first
/// operand low, 2 first operand high (PoP, COMPARE; LOAD AND TEST), never 3.
/// A branch on that cc then jumps on the flags; the cc is in the PSW all
/// the same.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Compared {
    /// A signed compare (COMPARE, LOAD AND TEST).
    Signed,
    /// An unsigned one (COMPARE LOGICAL).
    Logical,
}

impl Compared {
    /// `logical` compares unsigned.
    pub(crate) fn new(logical: bool) -> Self {
        if logical {
            Compared::Logical
        } else {
            Compared::Signed
        }
    }
}

/// A condition code not stored yet (docs/CHOICES.md §58a): that of the
/// result in general register `r` (all 64 bits, else bits 32-63), which
/// no instruction writes before the next one that sets the cc. Signed
/// (an add, a subtract, LOAD AND TEST): 0 zero, 1 negative, 2 positive
/// (an add or subtract that overflows, cc 3, goes to its slow path, which
/// leaves the block: docs/CHOICES.md §70c); else logical (AND, OR,
/// EXCLUSIVE OR): 0 zero, 1 not.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Pending {
    pub(crate) r: u8,
    pub(crate) wide: bool,
    pub(crate) signed: bool,
}
