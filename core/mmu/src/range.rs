//! The one software access path for an operand of any length: it is split
//! at 4 KiB page boundaries (and at effective address 2048, where the
//! fetch-protection override ends), the access exceptions of every page are
//! recognized, first page first, before anything is recorded or
//! transferred (an operand that crosses into a page that refuses the
//! access is refused whole, PoP ch. 6 "Recognition of Access Exceptions";
//! of an operand whose pages both refuse it, the first page's exception is
//! reported, as QEMU and Hercules report it), then each piece is
//! translated (and R, or R and C, recorded) and its bytes transferred at
//! the absolute address.
//!
//! Whoever translates (the software TLB, a plain walk, a shadow pager's
//! software path) implements [`PageTranslator`]; the loop is here once.
//! The caller has already split the operand at the top of the addressing
//! mode's range, so addresses only wrap at 2^64.

use crate::access::{self, Fault, Request};
use crate::addr::{AbsoluteAddress, LogicalAddress};
use crate::control::Controls;
use crate::exception::Exception;
use crate::kind::AccessKind;
use crate::space::AddressSpace;
use crate::storage::Storage;
use crate::PAGE_MASK;

/// A part of an operand that lies inside one 4 KiB page, and on one side
/// of effective address 2048 (see `room`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Piece {
    /// Its offset in the operand.
    pub offset: usize,
    /// Its logical address.
    pub address: u64,
    /// Its length in bytes.
    pub len: usize,
}

/// The end (exclusive) of the fetch-protection override's range: it
/// applies to effective addresses 0-2047 (CR0 bit 38, PoP "Fetch-Protection
/// Override"), so an operand that crosses 2048 is checked on both sides
/// (its bytes from 2048 on are fetch-protected where the frame is).
const OVERRIDE_END: u64 = 0x800;

/// How many bytes from logical `at` one translation covers: up to the end
/// of its page, or up to 2048 below it.
fn room(at: u64) -> usize {
    if at < OVERRIDE_END {
        (OVERRIDE_END - at) as usize
    } else {
        (PAGE_MASK + 1 - (at & PAGE_MASK)) as usize
    }
}

/// The pieces of the `len` bytes at `address`, in order: split at page
/// boundaries and at effective address 2048.
pub fn pieces(address: u64, len: usize) -> impl Iterator<Item = Piece> {
    let mut done = 0usize;
    core::iter::from_fn(move || {
        if done >= len {
            return None;
        }
        let at = address.wrapping_add(done as u64);
        let piece = Piece {
            offset: done,
            address: at,
            len: room(at).min(len - done),
        };
        done += piece.len;
        Some(piece)
    })
}

/// Translation of one access inside one page, for [`read`], [`write()`] and
/// [`check`].
pub trait PageTranslator {
    /// The error an access ends in (a program exception, or something the
    /// translator cannot handle).
    type Error: From<Exception>;
    /// The absolute storage the translations lead to.
    type Storage: Storage + ?Sized;

    /// Translates an access of `kind` to the byte at logical `address` and
    /// records it (R, and C for a store): the absolute address.
    fn translate(&mut self, address: u64, kind: AccessKind)
        -> Result<AbsoluteAddress, Self::Error>;

    /// Recognizes the access exceptions of an access of `kind` to the page
    /// of `address` without recording anything.
    fn probe(&mut self, address: u64, kind: AccessKind) -> Result<(), Self::Error>;

    /// The absolute storage.
    fn storage(&mut self) -> &mut Self::Storage;
}

/// The plainest [`PageTranslator`]: every page walked afresh with
/// [`access::access`] (no TLB), in one address space with one key.
#[derive(Debug)]
pub struct Walked<'a, S: Storage + ?Sized> {
    /// Absolute storage.
    pub storage: &'a mut S,
    /// The control registers, prefix and facilities.
    pub controls: &'a Controls,
    /// The address space of the accesses.
    pub space: AddressSpace,
    /// Their access key.
    pub key: u8,
}

impl<S: Storage + ?Sized> Walked<'_, S> {
    fn request(&self, address: u64, kind: AccessKind) -> Request {
        Request {
            address: LogicalAddress::new(address),
            space: self.space,
            kind,
            key: self.key,
        }
    }
}

impl<S: Storage + ?Sized> PageTranslator for Walked<'_, S> {
    type Error = Fault;
    type Storage = S;

    fn translate(&mut self, address: u64, kind: AccessKind) -> Result<AbsoluteAddress, Fault> {
        let request = self.request(address, kind);
        access::access(self.storage, self.controls, request).map(|done| done.absolute)
    }

    fn probe(&mut self, address: u64, kind: AccessKind) -> Result<(), Fault> {
        let request = self.request(address, kind);
        access::check(self.storage, self.controls, request).map(|_| ())
    }

    fn storage(&mut self) -> &mut S {
        self.storage
    }
}

/// The `len` bytes at `address` are one piece (the common case: one
/// translation, nothing else to check).
#[inline]
fn within_page(address: u64, len: usize) -> bool {
    len <= room(address)
}

/// Reads `buf.len()` bytes at logical `address` with an access of `kind`
/// (an operand or an instruction fetch).
pub fn read<T: PageTranslator + ?Sized>(
    t: &mut T,
    kind: AccessKind,
    address: u64,
    buf: &mut [u8],
) -> Result<(), T::Error> {
    if within_page(address, buf.len()) {
        let absolute = t.translate(address, kind)?;
        return t
            .storage()
            .read(absolute, buf)
            .ok_or_else(|| Exception::addressing().into());
    }
    // Every page is checked, in order, before anything is recorded: of an
    // operand whose pages both fault, the first page's exception is
    // reported (as QEMU and Hercules do; conformance vectors, format 2).
    check(t, kind, address, buf.len() as u64)?;
    for piece in pieces(address, buf.len()) {
        let absolute = t.translate(piece.address, kind)?;
        t.storage()
            .read(absolute, &mut buf[piece.offset..piece.offset + piece.len])
            .ok_or(Exception::addressing())?;
    }
    Ok(())
}

/// Stores `data` at logical `address`.
pub fn write<T: PageTranslator + ?Sized>(
    t: &mut T,
    address: u64,
    data: &[u8],
) -> Result<(), T::Error> {
    if within_page(address, data.len()) {
        let absolute = t.translate(address, AccessKind::Write)?;
        return t
            .storage()
            .write(absolute, data)
            .ok_or_else(|| Exception::addressing().into());
    }
    check(t, AccessKind::Write, address, data.len() as u64)?;
    for piece in pieces(address, data.len()) {
        let absolute = t.translate(piece.address, AccessKind::Write)?;
        t.storage()
            .write(absolute, &data[piece.offset..piece.offset + piece.len])
            .ok_or(Exception::addressing())?;
    }
    Ok(())
}

/// The longest operand [`check`] looks at: instructions whose operands
/// are longer (MVCL's up to 2^32 - 1 bytes) check a CPU-determined part.
pub const CHECK_MAX: u64 = 1 << 32;

/// Recognizes the access exceptions of an access of `kind` to the `len`
/// bytes at logical `address` without recording or transferring anything,
/// for instructions whose operands must be checked before any store: one
/// probe per page.
pub fn check<T: PageTranslator + ?Sized>(
    t: &mut T,
    kind: AccessKind,
    address: u64,
    len: u64,
) -> Result<(), T::Error> {
    let len = usize::try_from(len.min(CHECK_MAX)).unwrap_or(usize::MAX);
    pieces(address, len).try_for_each(|piece| t.probe(piece.address, kind))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_split_at_page_boundaries_and_wrap_at_the_top() {
        let v: [Piece; 2] = [
            Piece {
                offset: 0,
                address: 0x1FFE,
                len: 2,
            },
            Piece {
                offset: 2,
                address: 0x2000,
                len: 4,
            },
        ];
        assert!(pieces(0x1FFE, 6).eq(v));
        let top: [Piece; 2] = [
            Piece {
                offset: 0,
                address: u64::MAX,
                len: 1,
            },
            Piece {
                offset: 1,
                address: 0,
                len: 1,
            },
        ];
        assert!(pieces(u64::MAX, 2).eq(top));
        assert_eq!(pieces(0x1000, 0).count(), 0);
        // The fetch-protection override's end, 2048, splits too.
        let override_end: [Piece; 2] = [
            Piece {
                offset: 0,
                address: 0x7FE,
                len: 2,
            },
            Piece {
                offset: 2,
                address: 0x800,
                len: 6,
            },
        ];
        assert!(pieces(0x7FE, 8).eq(override_end));
        assert_eq!(pieces(0x17FE, 8).count(), 1);
    }

    #[test]
    fn an_operand_crossing_2048_is_refused_where_the_fetch_protection_override_ends() {
        // Bytes from effective address 2048 on are fetch-protected (the
        // override covers 0-2047 only): one faulting "page" at 0x800 stands
        // for them. Hercules refuses such an LG at 0x7fe (conformance
        // vectors, format 2); an operand below 2048 is not.
        let mut t = Faulting {
            ranges: [0x800..0x1000, 0x800..0x1000],
            storage: crate::storage::OwnedStorage::new(0x4000),
        };
        let mut buf = [0u8; 8];
        let refused = read(&mut t, AccessKind::Read, 0x7FE, &mut buf);
        assert_eq!(refused.err().and_then(|e| e.teid).map(|t| t.0), Some(0x800));
        assert!(read(&mut t, AccessKind::Read, 0x7F8, &mut buf).is_ok());
    }

    /// Address ranges that fault with the page-translation exception
    /// (the TEID names the range's start), recording nothing.
    struct Faulting {
        ranges: [core::ops::Range<u64>; 2],
        storage: crate::storage::OwnedStorage,
    }

    impl PageTranslator for Faulting {
        type Error = Exception;
        type Storage = crate::storage::OwnedStorage;

        fn translate(
            &mut self,
            address: u64,
            kind: AccessKind,
        ) -> Result<AbsoluteAddress, Exception> {
            self.probe(address, kind)?;
            Ok(AbsoluteAddress::new(address & PAGE_MASK))
        }

        fn probe(&mut self, address: u64, _: AccessKind) -> Result<(), Exception> {
            if let Some(r) = self.ranges.iter().find(|r| r.contains(&address)) {
                let mut e = Exception::new(crate::exception::Code::PAGE_TRANSLATION);
                e.teid = Some(crate::exception::Teid(r.start));
                return Err(e);
            }
            Ok(())
        }

        fn storage(&mut self) -> &mut Self::Storage {
            &mut self.storage
        }
    }

    #[test]
    fn an_operand_whose_pages_both_fault_reports_the_first_page() {
        let mut t = Faulting {
            ranges: [0x1000..0x2000, 0x2000..0x3000],
            storage: crate::storage::OwnedStorage::new(0x4000),
        };
        let teid = |r: Result<(), Exception>| r.err().and_then(|e| e.teid).map(|t| t.0);
        let mut buf = [0u8; 8];
        assert_eq!(
            teid(read(&mut t, AccessKind::Read, 0x1FFC, &mut buf)),
            Some(0x1000)
        );
        assert_eq!(teid(write(&mut t, 0x1FFC, &buf)), Some(0x1000));
        t.ranges = [0x2000..0x3000, 0x2000..0x3000];
        assert_eq!(teid(write(&mut t, 0x1FFC, &buf)), Some(0x2000));
    }
}
