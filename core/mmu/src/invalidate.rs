//! The instructions that change DAT tables, keys or the prefix in ways a
//! cached translation must notice (PoP ch. 10, Control Instructions; ch. 3,
//! Translation-Lookaside Buffer), each as its architected storage effect
//! plus an [`Invalidation`] that says which cached translations (software
//! TLB entries, shadow mappings, translated code) must go.
//!
//! Every cache in zmmu consumes the same descriptor, so IPTE, IDTE, CSP,
//! PTLB, SSKE, RRBE and SPX are interpreted in one place. The operations
//! hand it back wrapped in a [`PendingFlush`], which is `#[must_use]` and
//! consumed only by giving the invalidation to the caches
//! ([`PendingFlush::apply`], [`PendingFlush::into_invalidation`]) or by
//! saying that nothing caches translations ([`PendingFlush::ignore`]): a
//! forgotten flush is a compiler warning, not a stale translation.

use crate::addr::{AbsoluteAddress, RealAddress};
use crate::asce::{Asce, Level};
use crate::entry::{PageEntry, TableEntry};
use crate::exception::{Code, Exception};
use crate::keys::StorageKey;
use crate::prefix::Prefix;
use crate::storage::Storage;

/// Which cached translations an operation requires to be dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Invalidation {
    /// Translations formed through the page-table entries `first ..= first +
    /// extra` of the page table at `origin` (IPTE).
    PageTableEntries {
        /// The page-table origin (2 KiB aligned).
        origin: AbsoluteAddress,
        /// The first page index.
        first: u8,
        /// How many entries follow the first (0-255; never past entry 255).
        extra: u8,
    },
    /// Translations formed through the entries `first ..= first + extra`
    /// (indexes wrapping within the 2048-entry table) of the region or
    /// segment table at `origin` and level `level`, including everything
    /// below them (IDTE invalidation).
    TableEntries {
        /// The level of the table.
        level: Level,
        /// The table origin (4 KiB aligned).
        origin: AbsoluteAddress,
        /// The first index.
        first: u16,
        /// How many entries follow the first (0-2047).
        extra: u16,
    },
    /// Every translation formed through this ASCE (IDTE clearing by ASCE).
    Asce(Asce),
    /// Every translation (PTLB, CSP/CSPG with purge, CPU reset).
    All,
    /// Every cached permission derived from the storage key of the frame
    /// holding this absolute address (SSKE, RRBE).
    Key(AbsoluteAddress),
    /// Every translation that ends in absolute 0-8191 or in either prefix
    /// area (SPX).
    Prefix {
        /// The prefix before SPX.
        old: Prefix,
        /// The prefix after SPX.
        new: Prefix,
    },
}

/// An invalidation that the caches still have to carry out: what every
/// operation that changes a translation hands back (as `x86_64`'s
/// `MapperFlush` does). Dropping it unused is a warning; consume it with
/// [`PendingFlush::apply`] (give the [`Invalidation`] to each cache),
/// [`PendingFlush::into_invalidation`] or [`PendingFlush::ignore`].
#[must_use = "the cached translations (software TLB, shadow, translated code) stay stale until the \
              invalidation is applied: call `apply`, `into_invalidation` or `ignore`"]
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct PendingFlush(Invalidation, Scope);

/// Whose caches an invalidation concerns.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scope {
    /// Every CPU's in the configuration, before the instruction completes
    /// (IPTE, IDTE, CSP/CSPG: "all TLBs in the configuration"; SSKE and
    /// RRBE, whose keys every CPU's cached permissions derive from).
    Configuration,
    /// The executing CPU's alone (PTLB; SPX, whose prefix is the CPU's own).
    Cpu,
}

impl PendingFlush {
    /// The obligation to carry out `invalidation` in every CPU's caches.
    #[inline]
    pub const fn new(invalidation: Invalidation) -> Self {
        Self(invalidation, Scope::Configuration)
    }

    /// The obligation to carry out `invalidation` in the executing CPU's
    /// caches only.
    #[inline]
    pub const fn local(invalidation: Invalidation) -> Self {
        Self(invalidation, Scope::Cpu)
    }

    /// Whose caches must drop what it covers.
    #[inline]
    pub const fn scope(&self) -> Scope {
        self.1
    }

    /// The invalidation, without discharging the obligation.
    #[inline]
    pub const fn invalidation(&self) -> &Invalidation {
        &self.0
    }

    /// Discharges the obligation: `flush` gives the invalidation to every
    /// cache of translations (for example
    /// `pending.apply(|inv| { tlb.invalidate(inv); pager.invalidate(host, inv) })`).
    #[inline]
    pub fn apply(self, flush: impl FnOnce(&Invalidation)) {
        flush(&self.0);
    }

    /// Discharges the obligation by taking the invalidation, for a caller
    /// that hands it on (to several caches, or later).
    #[inline]
    pub const fn into_invalidation(self) -> Invalidation {
        self.0
    }

    /// Discharges the obligation without flushing anything: for a caller
    /// that holds no cached translations (tests of the storage effect, a
    /// reference walk).
    #[inline]
    pub fn ignore(self) {}
}

impl Invalidation {
    /// Whether a cached translation that used the table entries at
    /// `entry_at(level)` for each level must be dropped. `entry_at` answers
    /// the absolute address of the entry the translation used at a level,
    /// `asce` the tag of the ASCE it was formed through and `absolute` the
    /// absolute page it ends in.
    pub fn covers(
        &self,
        entry_at: impl Fn(Level) -> Option<AbsoluteAddress>,
        asce: Option<Asce>,
        absolute: AbsoluteAddress,
    ) -> bool {
        match *self {
            Self::All => true,
            Self::PageTableEntries {
                origin,
                first,
                extra,
            } => entry_at(Level::Page).is_some_and(|pte| {
                let first = origin.value() + u64::from(first) * 8;
                (first..=first + u64::from(extra) * 8).contains(&pte.value())
            }),
            Self::TableEntries {
                level,
                origin,
                first,
                extra,
            } => entry_at(level).is_some_and(|entry| {
                let Some(index) = entry.value().checked_sub(origin.value()).map(|d| d / 8) else {
                    return false;
                };
                index < 2048 && (index.wrapping_sub(u64::from(first)) & 0x7FF) <= u64::from(extra)
            }),
            Self::Asce(target) => asce.is_some_and(|asce| asce.tag() == target.tag()),
            Self::Key(frame) => absolute.page() == frame.page(),
            Self::Prefix { old, new } => {
                let block = absolute.value() & !(crate::prefix::PREFIX_AREA - 1);
                block == 0 || block == old.value() || block == new.value()
            }
        }
    }
}

/// INVALIDATE PAGE TABLE ENTRY (IPTE): sets the invalid bit of page-table
/// entries `px ..= px + extra` of the page table whose origin is in bits
/// 0-52 of `r1`. `px` is the page index of the virtual address in `r2`;
/// `extra` comes from R3 bits 56-63 when the IPTE-range facility is used.
///
/// Specification exception if the range runs past entry 255; addressing
/// exception (nothing changed) if an entry is outside storage.
pub fn ipte<S: Storage + ?Sized>(
    storage: &mut S,
    r1: u64,
    r2: u64,
    extra: u8,
) -> Result<PendingFlush, Exception> {
    let origin = AbsoluteAddress::new(r1 & 0xFFFF_FFFF_FFFF_F800);
    let first = Level::Page.index(r2) as u8;
    if u16::from(first) + u16::from(extra) > 255 {
        return Err(Exception::new(Code::SPECIFICATION));
    }
    let entries = (0..=u64::from(extra)).map(|i| origin.wrapping_add((u64::from(first) + i) * 8));
    set_invalid_bits(storage, entries, PageEntry::I)?;
    Ok(PendingFlush::new(Invalidation::PageTableEntries {
        origin,
        first,
        extra,
    }))
}

/// INVALIDATE DAT TABLE ENTRY (IDTE). `r1` designates a region or segment
/// table in ASCE format (origin and DT), `r2` holds the invalidation index
/// (bits 0-43, the index for `r1`'s level), the clearing-by-ASCE option
/// (bit 52) and the count of additional entries (bits 53-63), and `r3` the
/// ASCE that limits clearing (0 for none).
///
/// With bit 52 of `r2` one, nothing is invalidated and the translations
/// formed through the ASCE in `r3` are cleared. Otherwise the invalid bit of
/// each entry is set (indexes wrap within the table) and everything formed
/// through them is cleared. Specification exception if bits 44-51 of `r2`
/// are not zero.
pub fn idte<S: Storage + ?Sized>(
    storage: &mut S,
    r1: u64,
    r2: u64,
    r3: u64,
) -> Result<PendingFlush, Exception> {
    if r2 & 0x0000_0000_000F_F000 != 0 {
        return Err(Exception::new(Code::SPECIFICATION));
    }
    if r2 & 0x800 != 0 {
        return Ok(PendingFlush::new(Invalidation::Asce(Asce::new(r3))));
    }
    let designation = Asce::new(r1);
    let level = designation.designation_type();
    let origin = designation.table_origin();
    let first = level.index(r2) as u16;
    let extra = (r2 & 0x7FF) as u16;
    let entries =
        (0..=u64::from(extra)).map(|i| origin.wrapping_add(((u64::from(first) + i) & 0x7FF) * 8));
    set_invalid_bits(storage, entries, TableEntry::I)?;
    Ok(PendingFlush::new(Invalidation::TableEntries {
        level,
        origin,
        first,
        extra,
    }))
}

/// Sets `bit` in each entry, after checking that every entry exists, so an
/// addressing exception changes nothing.
fn set_invalid_bits<S: Storage + ?Sized>(
    storage: &mut S,
    entries: impl Iterator<Item = AbsoluteAddress> + Clone,
    bit: u64,
) -> Result<(), Exception> {
    if entries.clone().any(|at| storage.read_u64(at).is_none()) {
        return Err(Exception::addressing());
    }
    for at in entries {
        if let Some(entry) = storage.read_u64(at) {
            let _ = storage.write_u64(at, entry | bit);
        }
    }
    Ok(())
}

/// The operand width of COMPARE AND SWAP AND PURGE.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CspWidth {
    /// CSP: a word.
    Word,
    /// CSPG: a doubleword.
    Doubleword,
}

impl CspWidth {
    /// The operand's length in bytes.
    pub const fn bytes(self) -> usize {
        match self {
            Self::Word => 4,
            Self::Doubleword => 8,
        }
    }

    /// The logical address of the second operand in R2: R2 with the
    /// rightmost bits (the purge flags, bit 63 TLB and bit 62 ALB) ignored
    /// to the operand's alignment.
    pub const fn operand_address(self, r2: u64) -> u64 {
        r2 & !(self.bytes() as u64 - 1)
    }

    /// R2 bit 63: purge the TLBs when the operand is replaced.
    pub const fn purges_tlb(r2: u64) -> bool {
        r2 & 1 != 0
    }
}

/// The outcome of COMPARE AND SWAP AND PURGE.
#[must_use = "a purge (`invalidation`) must be applied to the caches"]
#[derive(Debug, PartialEq, Eq)]
pub struct CspOutcome {
    /// Condition code: 0 stored, 1 not equal.
    pub cc: u8,
    /// The value found at the operand (what R1 is loaded with when cc = 1).
    pub found: u64,
    /// What to clear: all TLBs when the operand was stored and the purge
    /// was asked for, nothing otherwise.
    pub invalidation: Option<PendingFlush>,
}

/// COMPARE AND SWAP AND PURGE (CSP/CSPG) on the second operand at
/// `operand`, the absolute address the caller obtained by translating
/// [`CspWidth::operand_address`] of R2 as a *store* with the PSW key (the
/// operand is logical and subject to protection, as any store; Hercules
/// translates it with `ACCTYPE_WRITE`). `compare` and `replace` come from R1
/// and R1+1. When equal, `replace` is stored (one interlocked update,
/// [`Storage::interlocked`]) and, if `purge` (R2 bit 63,
/// [`CspWidth::purges_tlb`]), every TLB in the configuration is purged.
pub fn csp<S: Storage + ?Sized>(
    storage: &mut S,
    operand: AbsoluteAddress,
    width: CspWidth,
    compare: u64,
    replace: u64,
    purge: bool,
) -> Result<CspOutcome, Exception> {
    let mask = u64::MAX >> (64 - 8 * width.bytes() as u32);
    let found = storage
        .interlocked(operand, width.bytes(), &mut |old| {
            (old == u128::from(compare & mask)).then_some(u128::from(replace & mask))
        })
        .ok_or(Exception::addressing())? as u64;
    if found != compare & mask {
        return Ok(CspOutcome {
            cc: 1,
            found,
            invalidation: None,
        });
    }
    Ok(CspOutcome {
        cc: 0,
        found,
        invalidation: purge.then_some(PendingFlush::new(Invalidation::All)),
    })
}

/// SET STORAGE KEY EXTENDED (SSKE) without the conditional options: sets the
/// key of the frame at the real address `real` (prefixed) to the ISKE-format
/// byte `key`. Addressing exception if the frame does not exist.
pub fn sske<S: Storage + ?Sized>(
    storage: &mut S,
    prefix: Prefix,
    real: RealAddress,
    key: u8,
) -> Result<PendingFlush, Exception> {
    let frame = prefix.to_absolute(real).page();
    storage
        .set_key(frame, StorageKey::new(key))
        .ok_or(Exception::addressing())?;
    Ok(PendingFlush::new(Invalidation::Key(frame)))
}

/// RESET REFERENCE BIT EXTENDED (RRBE): clears R in the key of the frame at
/// the real address `real` (prefixed); the condition code is the old R and C
/// as a two-bit value.
pub fn rrbe<S: Storage + ?Sized>(
    storage: &mut S,
    prefix: Prefix,
    real: RealAddress,
) -> Result<(u8, PendingFlush), Exception> {
    let frame = prefix.to_absolute(real).page();
    let key = storage
        .update_key(frame, &mut |key| {
            StorageKey::new(key.value() & !StorageKey::R)
        })
        .ok_or(Exception::addressing())?;
    let cc = (key.value() >> 1) & 3;
    Ok((cc, PendingFlush::new(Invalidation::Key(frame))))
}

/// SET PREFIX (SPX): the new prefix from the operand (bits 33-50), after
/// checking that the new prefix area exists. Returns the new prefix and the
/// invalidation every cache of absolute addresses needs.
pub fn spx<S: Storage + ?Sized>(
    storage: &S,
    old: Prefix,
    operand: u64,
) -> Result<(Prefix, PendingFlush), Exception> {
    let new = Prefix::new(operand);
    if !prefix_area_exists(storage, new) {
        return Err(Exception::addressing());
    }
    Ok((new, PendingFlush::local(Invalidation::Prefix { old, new })))
}

/// The whole 8 KiB prefix area of `prefix` is in storage (what SET PREFIX
/// and SIGP SET PREFIX require).
pub fn prefix_area_exists<S: Storage + ?Sized>(storage: &S, prefix: Prefix) -> bool {
    storage.contains(AbsoluteAddress::new(
        prefix.value() + crate::prefix::PREFIX_AREA - 1,
    ))
}
