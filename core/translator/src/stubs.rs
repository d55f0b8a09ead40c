//! The shared code every block uses: the trampoline Rust calls, the
//! dispatcher (jump-cache lookup) and the return path.

use alloc::vec::Vec;

use iced_x86::code_asm::*;
use iced_x86::IcedError;

use crate::abi;

/// The shared code every block uses, at fixed host addresses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stubs {
    /// Offset of the trampoline Rust calls, from the start of the stubs.
    pub enter: usize,
    /// Host address of the dispatcher (rax = the PSW address, stored).
    pub dispatch: u64,
    /// Host address of the return path (eax = the status).
    pub ret: u64,
}

/// Emits the shared stubs for host address `ip`: their code and where each
/// is. The dispatcher looks in a jump cache of [`abi::JUMP_ENTRIES`]
/// entries.
pub fn stubs(ip: u64) -> Result<(Vec<u8>, Stubs), IcedError> {
    stubs_for(ip, abi::JUMP_ENTRIES)
}

/// [`stubs()`] with a jump cache of `jump_entries` entries (a power of
/// two; slots by [`abi::jump_slot_in`]).
pub fn stubs_for(ip: u64, jump_entries: usize) -> Result<(Vec<u8>, Stubs), IcedError> {
    stubs_with_miss(ip, jump_entries, None)
}

/// [`stubs_for`] whose dispatcher, at a miss, first calls `miss` (when
/// given) with the PSW address in `rax`, the context's PSW bits in `rsi`
/// and generation in `edi`, the jump cache in `rdx` and in `rcx` the byte
/// offset of the last slot of the address's group it looked at: it
/// answers in `rax` the code of the block to go on at (having entered it
/// in that group, if it likes), or zero for [`abi::END`] as without it,
/// every other register kept (the kvm engine's image resolves misses to
/// blocks already translated there).
pub fn stubs_with_miss(
    ip: u64,
    jump_entries: usize,
    miss: Option<u64>,
) -> Result<(Vec<u8>, Stubs), IcedError> {
    let align = |n: usize| n.div_ceil(16) * 16;
    // The return path.
    let mut a = CodeAssembler::new(64)?;
    a.mov(qword_ptr(rbp + abi::CTX_BUDGET as i32), r15)?;
    a.add(rsp, abi::FRAME)?;
    for r in [r15, r14, r13, r12, rbp, rbx] {
        a.pop(r)?;
    }
    a.ret()?;
    let ret_code = a.assemble(ip)?;
    let ret = ip;
    // The dispatcher.
    let dispatch = ip + align(ret_code.len()) as u64;
    let mut a = CodeAssembler::new(64)?;
    let mut missed = a.create_label();
    // abi::jump_slot.
    a.mov(rcx, rax)?;
    a.shr(rcx, 1)?;
    a.mov(rdx, abi::JUMP_HASH)?;
    a.imul_2(rcx, rdx)?;
    a.shr(rcx, 64 - jump_entries.trailing_zeros())?;
    a.shl(ecx, abi::JUMP_SIZE.trailing_zeros())?;
    // The entry for the address and the PSW bits is in one of the slots of
    // the address's group, looked at in the order of abi::jump_ways: an
    // address may have an entry for each of several bits (processes
    // running one program at the same addresses, their fetches tagged
    // with their address spaces), and the first whose address, bits and
    // generation are the context's is taken. rsi and rdi are free here
    // (no block keeps a value in them past its end).
    let mut found = a.create_label();
    a.mov(rdx, qword_ptr(rbp + abi::CTX_JUMP as i32))?;
    a.mov(rsi, qword_ptr(rbp + abi::CTX_BITS as i32))?;
    a.mov(edi, dword_ptr(rbp + abi::CTX_GENERATION as i32))?;
    let ways = abi::jump_ways(0);
    for (i, way) in ways.iter().enumerate() {
        if i > 0 {
            let step = (ways[i - 1] ^ way) * abi::JUMP_SIZE;
            a.xor(ecx, step as i32)?;
        }
        let mut next = a.create_label();
        let not_here = if i + 1 < ways.len() { next } else { missed };
        a.cmp(rax, qword_ptr(rdx + rcx + abi::JUMP_ADDR as i32))?;
        a.jne(not_here)?;
        a.cmp(rsi, qword_ptr(rdx + rcx + abi::JUMP_BITS as i32))?;
        a.jne(not_here)?;
        a.cmp(edi, dword_ptr(rdx + rcx + abi::JUMP_GENERATION as i32))?;
        a.je(found)?;
        if i + 1 < ways.len() {
            a.set_label(&mut next)?;
        } else {
            a.jmp(missed)?;
        }
    }
    a.set_label(&mut found)?;
    a.jmp(qword_ptr(rdx + rcx + abi::JUMP_CODE as i32))?;
    a.set_label(&mut missed)?;
    if let Some(call) = miss {
        let mut end = a.create_label();
        a.call(call)?;
        a.test(rax, rax)?;
        a.jz(end)?;
        a.jmp(rax)?;
        a.set_label(&mut end)?;
    }
    a.mov(eax, abi::END as u32)?;
    a.jmp(ret)?;
    let dispatch_code = a.assemble(dispatch)?;
    // The trampoline.
    let enter_at = dispatch + align(dispatch_code.len()) as u64;
    let mut a = CodeAssembler::new(64)?;
    for r in [rbx, rbp, r12, r13, r14, r15] {
        a.push(r)?;
    }
    a.sub(rsp, abi::FRAME)?;
    a.mov(rbx, rdi)?;
    a.mov(rbp, rsi)?;
    a.mov(r12, qword_ptr(rbp + abi::CTX_TLB as i32))?;
    a.mov(r13, qword_ptr(rbp + abi::CTX_STORAGE as i32))?;
    a.mov(r15, qword_ptr(rbp + abi::CTX_BUDGET as i32))?;
    a.jmp(rdx)?;
    let enter_code = a.assemble(enter_at)?;
    let mut code = ret_code;
    code.resize(align(code.len()), 0xcc);
    code.extend_from_slice(&dispatch_code);
    code.resize(align(code.len()), 0xcc);
    let enter = code.len();
    code.extend_from_slice(&enter_code);
    Ok((
        code,
        Stubs {
            enter,
            dispatch,
            ret,
        },
    ))
}
