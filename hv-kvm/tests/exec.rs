//! Translated code's side of the VM: code in the code-cache slot runs at
//! CPL3, reaches the host through the host-call stub (one exit each, the
//! answer returned in RAX, unless the in-VM runtime image completes the
//! call), and can never write the code cache or the image's code; a panic
//! of the image is a fatal exit that names where.
#![forbid(unsafe_code)]

mod common;

use zmmu_hv_kvm::runtime::CODE_CACHE_VA;
use zmmu_hv_kvm::{
    ExecArea, ExitHandler, FaultAction, GuestStorage, KvmConfig, KvmError, KvmHost, KvmPaging,
    PageFault,
};

/// Doubles host-call arguments; records faults and resumes at `resume`.
#[derive(Default)]
struct Doubler {
    calls: Vec<u64>,
    faults: Vec<PageFault>,
    resume: u64,
}

impl ExitHandler for Doubler {
    fn page_fault(
        &mut self,
        _: &mut KvmPaging,
        fault: &PageFault,
    ) -> Result<FaultAction, KvmError> {
        self.faults.push(*fault);
        Ok(FaultAction::Resume(self.resume))
    }

    fn host_call(&mut self, _: &mut KvmPaging, argument: u64, _: u64) -> Result<u64, KvmError> {
        self.calls.push(argument);
        Ok(argument * 2)
    }
}

fn host_with_code_cache() -> Option<KvmHost> {
    host_with(true)
}

fn host_with(image: bool) -> Option<KvmHost> {
    let storage = GuestStorage::new(4 << 20, false).expect("host memory");
    let config = KvmConfig {
        pool_size: 4 << 20,
        code_cache: 2 << 20,
        image,
        image_faults: false,
    };
    match KvmHost::new(&storage, config) {
        Ok(host) => Some(host),
        Err(e) if e.is_unavailable() => {
            eprintln!("SKIP: {e}");
            None
        }
        Err(e) => panic!("KVM is present but the backend failed: {e}"),
    }
}

/// Runs `call_21` from the code cache with the doubling host: the status
/// (1000 plus twice the call's answer) and the calls the host saw.
fn call_21_from_the_code_cache(host: &mut KvmHost) -> (u64, Vec<u64>) {
    let code = call_21(host.host_call_stub());
    host.code_cache().unwrap().write(0, &code).unwrap();
    let mut exits = Doubler::default();
    let status = host
        .exec(CODE_CACHE_VA, [1000, ExecArea::CONTEXT, 0], &mut exits)
        .unwrap();
    (status, exits.calls)
}

#[test]
fn host_calls_from_the_code_cache_return_the_hosts_answer() {
    let Some(mut host) = host_with_code_cache() else {
        return;
    };
    assert_eq!(call_21_from_the_code_cache(&mut host), (1042, vec![21]));
    assert_eq!(host.stats().calls, 1);
}

/// Code that makes host call 21 and returns the answer plus RDI.
fn call_21(stub: u64) -> Vec<u8> {
    use iced_x86::code_asm::*;
    let mut a = CodeAssembler::new(64).unwrap();
    a.mov(rsi, 21u64).unwrap();
    a.mov(rax, stub).unwrap();
    a.call(rax).unwrap();
    a.add(rax, rdi).unwrap();
    a.ret().unwrap();
    a.assemble(CODE_CACHE_VA).unwrap()
}

/// Sees the caller's R15 at each host call and takes 30 off it.
#[derive(Default)]
struct Lessens {
    seen: Vec<u64>,
}

impl ExitHandler for Lessens {
    fn page_fault(
        &mut self,
        _: &mut KvmPaging,
        fault: &PageFault,
    ) -> Result<FaultAction, KvmError> {
        Err(KvmError::UnexpectedExit(format!("{fault}")))
    }

    fn host_call(&mut self, _: &mut KvmPaging, _: u64, r15: u64) -> Result<u64, KvmError> {
        self.seen.push(r15);
        Ok(0)
    }

    fn r15_less(&self) -> u64 {
        30
    }
}

#[test]
fn the_host_sees_the_callers_r15_and_may_lessen_it() {
    let Some(mut host) = host_with_code_cache() else {
        return;
    };
    // R15 = 100, a host call, then R15 is the status.
    let code = {
        use iced_x86::code_asm::*;
        let mut a = CodeAssembler::new(64).unwrap();
        a.push(r15).unwrap();
        a.mov(r15, 100u64).unwrap();
        a.mov(rsi, 21u64).unwrap();
        a.mov(rax, host.host_call_stub()).unwrap();
        a.call(rax).unwrap();
        a.mov(rax, r15).unwrap();
        a.pop(r15).unwrap();
        a.ret().unwrap();
        a.assemble(CODE_CACHE_VA).unwrap()
    };
    host.code_cache().unwrap().write(0, &code).unwrap();
    let mut exits = Lessens::default();
    let status = host
        .exec(CODE_CACHE_VA, [1000, ExecArea::CONTEXT, 0], &mut exits)
        .unwrap();
    assert_eq!((status, exits.seen.as_slice()), (70, &[100][..]));
}

#[test]
fn a_panic_of_the_image_is_a_fatal_exit_that_names_its_location() {
    let Some(mut host) = host_with_code_cache() else {
        return;
    };
    let code = call_21(host.host_call_stub());
    host.code_cache().unwrap().write(0, &code).unwrap();
    let mut exits = Doubler::default();
    // An image that meets another protocol version panics (`call::host_call`).
    host.paging().image().unwrap().area().set_version(0);
    let error = host
        .exec(CODE_CACHE_VA, [1000, ExecArea::CONTEXT, 0], &mut exits)
        .unwrap_err();
    let KvmError::RuntimePanic(at) = error else {
        panic!("not a panic of the image: {error}");
    };
    assert!(at.file.ends_with("call.rs") && at.line > 0, "{at:?}");
    assert!(exits.calls.is_empty(), "the call never reached the host");
    // The vCPU is back in the dispatcher: the next run works.
    host.paging()
        .image()
        .unwrap()
        .area()
        .set_version(zmmu_vm_runtime::protocol::VERSION);
    let status = host
        .exec(CODE_CACHE_VA, [1000, ExecArea::CONTEXT, 0], &mut exits)
        .unwrap();
    assert_eq!((status, exits.calls.as_slice()), (1042, &[21][..]));
}

#[test]
fn without_the_image_every_host_call_is_the_hosts() {
    let Some(mut host) = host_with(false) else {
        return;
    };
    assert!(host.paging().image().is_none());
    assert_eq!(call_21_from_the_code_cache(&mut host), (1042, vec![21]));
}

#[test]
fn translated_code_cannot_write_the_images_code() {
    let Some(mut host) = host_with_code_cache() else {
        return;
    };
    let code = {
        use iced_x86::code_asm::*;
        let mut a = CodeAssembler::new(64).unwrap();
        a.mov(rax, zmmu_hv_kvm::image::IMAGE_VA).unwrap();
        a.mov(byte_ptr(rax), 0xcc).unwrap();
        a.ret().unwrap();
        a.assemble(CODE_CACHE_VA).unwrap()
    };
    host.code_cache().unwrap().write(0, &code).unwrap();
    let mut exits = Doubler {
        resume: CODE_CACHE_VA + code.len() as u64 - 1,
        ..Doubler::default()
    };
    host.exec(CODE_CACHE_VA, [0, ExecArea::CONTEXT, 0], &mut exits)
        .unwrap();
    let fault = exits.faults[0];
    assert_eq!(fault.address, zmmu_hv_kvm::image::IMAGE_VA);
    assert!(fault.is_write() && fault.is_protection());
}

#[test]
fn translated_code_cannot_write_the_code_cache() {
    let Some(mut host) = host_with_code_cache() else {
        return;
    };
    let (code, resume) = {
        use iced_x86::code_asm::*;
        let mut a = CodeAssembler::new(64).unwrap();
        let mut after = a.create_label();
        a.mov(rax, CODE_CACHE_VA).unwrap();
        a.mov(byte_ptr(rax), 0xcc).unwrap();
        a.mov(eax, 1).unwrap();
        a.ret().unwrap();
        a.set_label(&mut after).unwrap();
        a.mov(eax, 2).unwrap();
        a.ret().unwrap();
        let result = a
            .assemble_options(
                CODE_CACHE_VA,
                iced_x86::BlockEncoderOptions::RETURN_NEW_INSTRUCTION_OFFSETS,
            )
            .unwrap();
        let resume = result.label_ip(&after).unwrap();
        (result.inner.code_buffer, resume)
    };
    host.code_cache().unwrap().write(0, &code).unwrap();
    let mut exits = Doubler {
        resume,
        ..Doubler::default()
    };
    let status = host
        .exec(CODE_CACHE_VA, [0, ExecArea::CONTEXT, 0], &mut exits)
        .unwrap();
    assert_eq!(status, 2, "the store faulted and the run resumed");
    assert_eq!(exits.faults.len(), 1);
    let fault = exits.faults[0];
    assert_eq!(fault.address, CODE_CACHE_VA);
    assert!(fault.is_write() && fault.is_protection());
    let mut first = [0u8; 1];
    host.code_cache().unwrap().read(0, &mut first).unwrap();
    assert_eq!(first[0], code[0], "the code cache is unchanged");
}
