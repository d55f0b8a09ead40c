//! The debugger's view of guest storage: by logical address through the
//! CPU's current DAT (the PSW's DAT bit and address-space control, the
//! ASCEs in the control registers), by real address (prefixing) or by
//! absolute address. A debugger access is not the CPU's: it records no
//! reference or change bit, fills no TLB entry, and is not refused by
//! key-controlled, low-address or DAT protection (as QEMU's debug access);
//! a translation failure is an error, never a fault delivered to the
//! guest.

use zmmu_cpu::memory::logical_space;
use zmmu_cpu::state::Cpu;
use zmmu_machine::bus::DatBus;
use zmmu_mmu::access::{self, Request};
use zmmu_mmu::addr::{AbsoluteAddress, LogicalAddress, RealAddress};
use zmmu_mmu::kind::AccessKind;
use zmmu_mmu::storage::Storage;

/// Which address a debugger access names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Space {
    /// Logical: translated as the CPU's next operand access would be.
    Logical,
    /// Real: prefixed.
    Real,
    /// Absolute.
    Absolute,
}

const PAGE: u64 = 4096;

/// The absolute address of `address` in `space`, or why there is none.
pub fn translate(cpu: &Cpu, bus: &DatBus, space: Space, address: u64) -> Result<u64, String> {
    let absolute = match space {
        Space::Absolute => address,
        Space::Real => cpu.prefix.to_absolute(RealAddress::new(address)).value(),
        Space::Logical => {
            let request = Request {
                address: LogicalAddress::new(address),
                space: logical_space(cpu, 0),
                kind: AccessKind::Read,
                key: 0,
            };
            access::check(&bus.storage, &bus.controls(cpu), request)
                .map_err(|fault| format!("{address:#x}: {fault}"))?
                .absolute
                .value()
        }
    };
    match bus.storage.contains(AbsoluteAddress::new(absolute)) {
        true => Ok(absolute),
        false => Err(format!(
            "{address:#x}: absolute address {absolute:#x} is outside storage"
        )),
    }
}

/// The pieces of `[address, address + len)` that lie in one page each:
/// (address, offset into the buffer, length).
fn pages(address: u64, len: usize) -> impl Iterator<Item = (u64, usize, usize)> {
    let mut done = 0usize;
    std::iter::from_fn(move || {
        if done >= len {
            return None;
        }
        let at = address.checked_add(done as u64)?;
        let room = (PAGE - at % PAGE) as usize;
        let n = room.min(len - done);
        let piece = (at, done, n);
        done += n;
        Some(piece)
    })
}

/// Reads as many bytes from `address` on as can be translated and read,
/// page by page; the count read (short at the first page that fails).
pub fn read(cpu: &Cpu, bus: &DatBus, space: Space, address: u64, buf: &mut [u8]) -> usize {
    let mut read = 0;
    for (at, offset, n) in pages(address, buf.len()) {
        let Ok(absolute) = translate(cpu, bus, space, at) else {
            break;
        };
        let piece = &mut buf[offset..offset + n];
        if bus
            .storage
            .read(AbsoluteAddress::new(absolute), piece)
            .is_none()
        {
            break;
        }
        read += n;
    }
    read
}

/// Writes `data` at `address`: every page is translated first, so that a
/// failure changes nothing.
pub fn write(
    cpu: &Cpu,
    bus: &mut DatBus,
    space: Space,
    address: u64,
    data: &[u8],
) -> Result<(), String> {
    let mut targets = Vec::new();
    for (at, offset, n) in pages(address, data.len()) {
        let absolute = translate(cpu, bus, space, at)?;
        let last = AbsoluteAddress::new(absolute + n as u64 - 1);
        if !bus.storage.contains(last) {
            return Err(format!("{at:#x}: outside storage"));
        }
        targets.push((absolute, offset, n));
    }
    if address.checked_add(data.len() as u64).is_none() {
        return Err(format!("{address:#x}: the range wraps"));
    }
    for (absolute, offset, n) in targets {
        bus.storage
            .write(AbsoluteAddress::new(absolute), &data[offset..offset + n])
            .ok_or_else(|| format!("absolute {absolute:#x}: outside storage"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use zmmu_cpu::state::mask;
    use zmmu_mmu::storage::OwnedStorage;

    /// DAT on, CR1 a segment table at 0x1000 whose entry 0 points to a
    /// page table at 0x2000 mapping page 5 to frame 0x73 and nothing else.
    fn dat() -> (Cpu, DatBus) {
        let mut bus = DatBus::new(OwnedStorage::new(1 << 20));
        bus.storage
            .write(AbsoluteAddress::new(0x1000), &0x2000u64.to_be_bytes())
            .unwrap();
        for page in 0..256u64 {
            let pte: u64 = if page == 5 { 0x7_3000 } else { 0x400 };
            bus.storage
                .write(AbsoluteAddress::new(0x2000 + page * 8), &pte.to_be_bytes())
                .unwrap();
        }
        let mut cpu = Cpu::new();
        cpu.cr[1] = 0x1000;
        cpu.psw.mask = mask::DAT | mask::EA | mask::BA;
        (cpu, bus)
    }

    #[test]
    fn a_logical_read_goes_through_the_current_dat() {
        let (cpu, mut bus) = dat();
        bus.storage
            .write(AbsoluteAddress::new(0x7_3010), b"zmmu")
            .unwrap();
        let mut buf = [0u8; 4];
        assert_eq!(read(&cpu, &bus, Space::Logical, 0x5010, &mut buf), 4);
        assert_eq!(&buf, b"zmmu");
    }

    #[test]
    fn a_read_stops_at_the_first_page_that_does_not_translate() {
        let (cpu, bus) = dat();
        let mut buf = [0u8; 32];
        assert_eq!(read(&cpu, &bus, Space::Logical, 0x5ff0, &mut buf), 16);
        assert!(translate(&cpu, &bus, Space::Logical, 0x6000)
            .unwrap_err()
            .contains("page-translation"));
    }

    #[test]
    fn a_write_that_cannot_complete_changes_nothing() {
        let (cpu, mut bus) = dat();
        assert!(write(&cpu, &mut bus, Space::Logical, 0x5ffe, &[1, 2, 3, 4]).is_err());
        let mut buf = [9u8; 2];
        bus.storage
            .read(AbsoluteAddress::new(0x7_3ffe), &mut buf)
            .unwrap();
        assert_eq!(buf, [0, 0]);
    }

    #[test]
    fn real_addresses_are_prefixed_and_storage_ends_where_it_ends() {
        let (mut cpu, mut bus) = dat();
        cpu.prefix = zmmu_mmu::prefix::Prefix::new(0x4_0000);
        write(&cpu, &mut bus, Space::Real, 0x10, &[0xab]).unwrap();
        let mut b = [0u8];
        bus.storage
            .read(AbsoluteAddress::new(0x4_0010), &mut b)
            .unwrap();
        assert_eq!(b, [0xab]);
        assert_eq!(
            read(&cpu, &bus, Space::Absolute, u64::MAX - 1, &mut [0u8; 8]),
            0
        );
        assert!(write(&cpu, &mut bus, Space::Absolute, 1 << 20, &[0]).is_err());
    }
}
