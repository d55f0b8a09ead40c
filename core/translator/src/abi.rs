//!
//! Rust enters translated code through the trampoline of [`stubs`](crate::stubs):
//! `extern "sysv64" fn(cpu: *mut Cpu, ctx: *mut Ctx, block: *const u8) ->
//! u64`. It saves the callee-saved registers, loads `rbx` = CPU, `rbp` =
//! context, `r12` = TLB entries, `r13` = storage, `r15` = the
//! instruction budget, and jumps to the block. Generated code keeps guest
//! registers in `r8`-`r11` and `r14` (the register cache of
//! `emit`; docs/CHOICES.md §44). A block starts
//! by taking its length from the budget (or returning [`END`] if it
//! does not fit), runs, stores the next PSW address and its own number in
//! [`CTX_LAST_BLOCK`], and goes to the dispatcher, which looks the
//! address up in the jump cache ([`JUMP_ENTRIES`] entries at
//! [`CTX_JUMP`]) and jumps straight to the next block, or returns
//! [`END`] on a miss. [`EXIT`] is returned when the helper asked
//! to leave after the instruction it ran. The budget left is stored back
//! at [`CTX_BUDGET`].
//!
//! The helper is `extern "sysv64" fn(ctx: *mut Ctx, which: u64) -> u64`,
//! `which` = block number << 8 | instruction index; it runs that
//! instruction as `Cpu::step` would and returns 0 to continue the block, 1
//! to leave.

/// The helper's `which` for instruction `index` of block `block`: block
/// number << 8 | instruction index (a block has at most
/// [`crate::MAX_BLOCK`] instructions).
pub const fn which(block: u64, index: usize) -> u64 {
    block << 8 | index as u64
}

/// The block number and instruction index of the helper's `which`
/// ([`which`]).
pub const fn block_index(which: u64) -> (u64, usize) {
    (which >> 8, (which & 0xff) as usize)
}

/// The helper's address.
pub const CTX_HELPER: usize = 0;
/// The software TLB's entries ([`zmmu_mmu::tlb::Tlb::entries_ptr`]).
pub const CTX_TLB: usize = 8;
/// The host address of absolute storage byte 0.
pub const CTX_STORAGE: usize = 16;
/// The storage size in bytes.
pub const CTX_STORAGE_LEN: usize = 24;
/// The instruction budget (in on entry, what is left on return).
pub const CTX_BUDGET: usize = 32;
/// The jump cache.
pub const CTX_JUMP: usize = 40;
/// The generation of valid jump-cache entries (a `u32`).
pub const CTX_GENERATION: usize = 48;
/// The PSW bits the running blocks were translated for.
pub const CTX_BITS: usize = 56;
/// The last instruction a block ran before it went to the next block (a
/// `u32`, see [`last_run`]).
pub const CTX_LAST_BLOCK: usize = 64;
/// What a block stores at [`CTX_LAST_BLOCK`] when it leaves after its
/// instruction `index`: block numbers are below 2^16.
pub const fn last_run(block: u32, index: usize) -> u32 {
    block | (index as u32) << 16
}
/// The TLB-fill helper: `extern "sysv64" fn(ctx, logical address,
/// access kind | length << 8) -> u64`: [`FILL_RETRY`] when the probe
/// now hits, [`FILL_ABSOLUTE`] when the access may go to the absolute
/// address at [`CTX_FILL_ABSOLUTE`] (a store into a frame that holds
/// translated code, but not into its code bytes), [`FILL_INTERPRET`]
/// when the interpreter must run the instruction.
pub const CTX_FILL: usize = 72;
/// Where the fill helper leaves an absolute address.
pub const CTX_FILL_ABSOLUTE: usize = 80;
/// The pair fill, for the two operands of an SS instruction:
/// `extern "sysv64" fn(ctx, first logical address, second logical
/// address, first's access kind | order << 8 | length << 16) -> u64`:
/// [`FILL_ABSOLUTE`] with both absolute addresses at
/// [`CTX_FILL_ABSOLUTE`] and [`CTX_FILL_SECOND`] (the second is read;
/// order 0: both checked, second first, before either is translated and
/// recorded; 1: the first translated, then the second), else
/// [`FILL_INTERPRET`].
pub const CTX_FILL_PAIR: usize = 88;
/// Where the pair fill leaves the second operand's absolute address.
pub const CTX_FILL_SECOND: usize = 96;
/// The code map: one bit per [`CODE_GRANULE_SHIFT`]-sized granule of
/// absolute storage (bit `a >> CODE_GRANULE_SHIFT` of the bit string at
/// this address), set where a translated block has bytes; a store into a
/// frame with translated code goes ahead inline where the map is clear.
pub const CTX_CODE_MAP: usize = 104;
/// Granules of the code map are 64 bytes.
pub const CODE_GRANULE_SHIFT: u32 = 6;
/// See [`CTX_FILL`].
pub const FILL_RETRY: u64 = 0;
/// See [`CTX_FILL`].
pub const FILL_ABSOLUTE: u64 = 1;
/// See [`CTX_FILL`].
pub const FILL_INTERPRET: u64 = 2;
/// The bytes of scratch stack the trampoline reserves under its saved
/// registers (keeping the stack 16-byte aligned at calls): generated code
/// may use the qwords at [`FRAME_FILL`] and [`FRAME_OPERAND`] from `rsp`.
pub const FRAME: i32 = 24;
/// Where a TLB miss path keeps the address it fills (see [`CTX_FILL`]).
pub const FRAME_FILL: i32 = 0;
/// Where an instruction with two storage operands keeps the first one's
/// absolute address while it probes the other (the fill call keeps it).
pub const FRAME_OPERAND: i32 = 8;
/// Where a block keeps the PSW byte of the condition code with the cc
/// bits clear (the address-space control and the program mask, which
/// its native instructions do not change), so that setting the cc need
/// not read the PSW byte the last setting wrote (docs/CHOICES.md §44).
pub const FRAME_CC_BYTE: i32 = 16;
/// Jump-cache entries (a power of two) of the dispatcher of
/// [`crate::stubs()`]; [`crate::stubs_for`] takes another number.
pub const JUMP_ENTRIES: usize = 4096;
/// The size of a jump-cache entry: PSW address (`u64`), PSW bits
/// (`u64`), host code address (`u64`), generation (`u32`), block
/// number (`u32`).
pub const JUMP_SIZE: usize = 32;
/// Offset of the PSW address in a jump-cache entry.
pub const JUMP_ADDR: usize = 0;
/// Offset of the PSW bits in a jump-cache entry.
pub const JUMP_BITS: usize = 8;
/// Offset of the host code address in a jump-cache entry.
pub const JUMP_CODE: usize = 16;
/// Offset of the generation in a jump-cache entry.
pub const JUMP_GENERATION: usize = 24;
/// The multiplier of [`jump_slot`]'s hash (2^64 divided by the golden
/// ratio: Fibonacci hashing spreads addresses that differ only in high
/// bits, as a kernel's hot functions do, over all slots).
pub const JUMP_HASH: u64 = 0x9e37_79b9_7f4a_7c15;
/// The jump-cache slot of a PSW address: the top bits of the halfword
/// address times [`JUMP_HASH`]. The dispatcher looks for the address
/// there and then in the other slots of its aligned group of
/// [`JUMP_WAYS`] ([`jump_ways`]), so that hot addresses of one slot need
/// not evict each other. It takes the first slot whose address, PSW bits
/// and generation all match: an engine may keep one address in several
/// slots under different PSW bits or tags (the kvm engine keeps two).
pub const fn jump_slot(addr: u64) -> usize {
    jump_slot_in(addr, JUMP_ENTRIES)
}
/// [`jump_slot`] in a jump cache of `entries` entries (a power of two).
pub const fn jump_slot_in(addr: u64, entries: usize) -> usize {
    ((addr >> 1).wrapping_mul(JUMP_HASH) >> (64 - entries.trailing_zeros())) as usize
}
/// The slots of a jump-cache group.
pub const JUMP_WAYS: usize = 4;
/// The slots the dispatcher looks at for an address whose slot is
/// `slot`, in its order: `slot`, then the others of its group.
pub const fn jump_ways(slot: usize) -> [usize; JUMP_WAYS] {
    [slot, slot ^ 1, slot ^ 3, slot ^ 2]
}
/// The block ran to its end (or the budget or the jump cache ended the
/// chain); the PSW address is the next instruction's.
pub const END: u64 = 0;
/// The helper ended the block.
pub const EXIT: u64 = 1;
