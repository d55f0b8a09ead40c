//! A CPU of a configuration of several (PoP ch. 4 "Multiprocessing"), run
//! here without threads for the others: the test's [`Park`] plays the
//! other CPUs when CPU 0 parks, so what CPU 0 waits for is seen exactly.

mod common;

use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use common::*;

use zmmu_cpu::clock::ns_to_tod;
use zmmu_machine::configuration::{self, Activity, Configuration, Member, Park, Spin};
use zmmu_machine::interrupt::{CR0_CLOCK_COMPARATOR, CR0_SERVICE_SIGNAL};
use zmmu_machine::sclp::Sclp;
use zmmu_machine::sigp::status;
use zmmu_machine::{Machine, Stop};

/// What CPU 0's `n`th park (from 0) does in place of the other CPUs.
type Stand = dyn Fn(&Arc<Configuration>, usize) + Send + Sync;

thread_local! {
    /// The longest CPU 0's first park was allowed, once a test asks
    /// (CPU 0 runs on the test's thread).
    static LONGEST_PARK: Cell<Option<u64>> = const { Cell::new(None) };
    /// How often CPU 0 let the host run another thread.
    static RELAXED: Cell<u32> = const { Cell::new(0) };
    /// What the last relax said about the ones before it.
    static LAST_RELAX: Cell<u32> = const { Cell::new(0) };
}

/// CPU 0 is the only thread: its parks call `stand`.
struct OneThread {
    configuration: Arc<OnceLock<Arc<Configuration>>>,
    parks: AtomicUsize,
    stand: Box<Stand>,
}

impl Park for OneThread {
    fn park(&self, index: usize, longest_ns: u64) {
        assert_eq!(index, 0, "only CPU 0 has a thread");
        if LONGEST_PARK.get() == Some(u64::MAX) {
            LONGEST_PARK.set(Some(longest_ns));
        }
        let n = self.parks.fetch_add(1, Ordering::SeqCst);
        let configuration = self.configuration.get().expect("configured");
        (self.stand)(configuration, n);
    }
    fn unpark(&self, _index: usize) {}
    fn relax(&self, before: u32) {
        LAST_RELAX.set(before);
        RELAXED.set(RELAXED.get() + 1);
    }
}

/// CPUs 0 and 1 (1 stopped), CPU 0 `m` running with `stand` for CPU 1.
fn configure(m: &mut Machine, stand: Box<Stand>) -> Arc<Configuration> {
    let cell = Arc::new(OnceLock::new());
    let park = OneThread {
        configuration: Arc::clone(&cell),
        parks: AtomicUsize::new(0),
        stand,
    };
    let configuration = Configuration::new(&[0, 1], 2, Sclp::default(), Box::new(park));
    let _ = cell.set(Arc::clone(&configuration));
    m.join(Member {
        configuration: Arc::clone(&configuration),
        index: 0,
    });
    configuration
}

/// CPU `index` of `configuration`, played by the test.
fn cpu(configuration: &Arc<Configuration>, index: usize) -> Member {
    Member {
        configuration: Arc::clone(configuration),
        index,
    }
}

/// CPU 0 in an enabled wait for external interruptions (nothing of its
/// own can end it), whose handler runs `handler` and enters the disabled
/// wait at 0x77.
fn waiting_for_an_external_interruption(handler: &[u8]) -> Machine {
    let code = [0xB2, 0xB2, 0x03, 0x10]; // lpswe 0x310: the enabled wait
    let mut m = machine(&code);
    m.load(0x310, &psw(EXT | WAIT | BITS64, 0)).unwrap();
    m.load(0x300, &psw(DISABLED_WAIT, 0x77)).unwrap();
    m.load(0x1b0, &psw(BITS64, 0x30000)).unwrap();
    m.load(0x30000, &[handler, &DONE].concat()).unwrap();
    m
}

/// CPU 0 runs `code` with r4 = 1 (CPU 1's address, for SIGP) and ends in
/// the disabled wait at 0x77; `stand` plays CPU 1 when CPU 0 parks.
fn signalling_cpu_1(code: &[u8], stand: Box<Stand>) -> (Machine, Arc<Configuration>) {
    let mut m = machine(code);
    m.load(0x300, &psw(DISABLED_WAIT, 0x77)).unwrap();
    m.cpu.gpr[4] = 1;
    let configuration = configure(&mut m, stand);
    (m, configuration)
}

/// `sigp %r2,%r4,ORDER`.
fn sigp(order: u8) -> [u8; 4] {
    [0xAE, 0x24, 0x00, order]
}
/// `ipm %r6`.
const IPM_R6: [u8; 4] = [0xB2, 0x22, 0x00, 0x60];
/// `lpswe 0x300`: a disabled wait at 0x77.
const DONE: [u8; 4] = [0xB2, 0xB2, 0x03, 0x00];

#[test]
fn sense_running_status_of_a_stopped_cpu_is_answered_without_waiting_for_it() {
    // CPU 1 has no thread: a sender that waits for its answer parks, and
    // its park fails the test.
    let code = [sigp(0x15).as_slice(), &IPM_R6, &DONE].concat();
    let (mut m, configuration) = signalling_cpu_1(
        &code,
        Box::new(|_, _| panic!("CPU 0 waited for the stopped CPU 1")),
    );
    assert_eq!(configuration.slots()[1].activity(), Activity::Stopped);
    let out = m.run(Some(100), &mut ());
    assert!(matches!(out.stop, Stop::DisabledWait { psw } if psw.addr == 0x77));
    assert_eq!((m.cpu.gpr[6] >> 28) & 3, 1, "cc 1: status stored");
    assert_eq!(m.cpu.gpr[2] as u32, status::NOT_RUNNING);
}

#[test]
fn a_cpu_out_of_its_wait_by_a_service_signal_runs_and_keeps_the_run_going() {
    // CPU 0 waits for a service signal (nothing of its own can end the
    // wait); while it is parked, the service signal comes. Its handler
    // sends SIGP STOP to CPU 1, which stops: CPU 0 still runs, so the run
    // goes on to CPU 0's own disabled wait.
    let mut m = waiting_for_an_external_interruption(&sigp(0x05));
    m.cpu.cr[0] |= CR0_SERVICE_SIGNAL;
    m.cpu.gpr[4] = 1;
    let configuration = configure(
        &mut m,
        Box::new(|configuration, n| {
            let cpu1 = cpu(configuration, 1);
            match n {
                // CPU 0 in its wait.
                0 => configuration.signal_service(0x100),
                // CPU 0 waits for CPU 1 to carry out the stop.
                _ => {
                    if let Some(order) = cpu1.take_order() {
                        let _ = cpu1.settle(Activity::Stopped, || Stop::LimitReached);
                        cpu1.answer(order, zmmu_machine::sigp::Answer::Accepted);
                    }
                }
            }
        }),
    );
    // CPU 1 runs (it has no thread: the test plays it).
    let cpu1 = cpu(&configuration, 1);
    let _ = cpu1.settle(Activity::Running, || Stop::LimitReached);
    let out = m.run(Some(100), &mut ());
    assert!(
        matches!(out.stop, Stop::DisabledWait { psw } if psw.addr == 0x77),
        "{:?}",
        out.stop
    );
}

/// `ipm %rN`.
const fn ipm(r: u8) -> [u8; 4] {
    [0xB2, 0x22, 0x00, r << 4]
}

#[test]
fn external_calls_and_emergency_signals_are_made_pending_by_the_sender_without_waiting() {
    // CPU 1 is stopped and has no thread: a sender that waits for it
    // parks, and its park fails the test (QEMU answers these orders from
    // the sender's thread too). A stopped CPU keeps them pending.
    let code = [
        sigp(0x02).as_slice(), // external call: accepted
        &ipm(6),
        &sigp(0x02), // a second one: "external call pending"
        &ipm(7),
        &sigp(0x03), // emergency signal: accepted
        &ipm(8),
        &sigp(0x01), // sense: "stopped", "external call pending"
        &ipm(9),
        &DONE,
    ]
    .concat();
    let (mut m, configuration) = signalling_cpu_1(
        &code,
        Box::new(|_, _| panic!("CPU 0 waited for CPU 1's thread")),
    );
    let out = m.run(Some(100), &mut ());
    assert!(matches!(out.stop, Stop::DisabledWait { psw } if psw.addr == 0x77));
    let cc = |r: usize| (m.cpu.gpr[r] >> 28) & 3;
    assert_eq!([cc(6), cc(7), cc(8), cc(9)], [0, 1, 0, 1]);
    assert_eq!(
        m.cpu.gpr[2] as u32,
        status::STOPPED | status::EXTERNAL_CALL_PENDING
    );
    let signals = configuration.slots()[1].signals();
    assert_eq!(signals.emergencies(), 1);
    assert_eq!(signals.take_external_call(), Some(0), "from CPU 0");
}

#[test]
fn a_cpu_takes_the_emergency_signal_another_cpu_posted_to_its_slot() {
    // CPU 0 waits, enabled for emergency signals; CPU 1 (played by the
    // test, running) posts one to CPU 0's slot: CPU 0 takes the external
    // interruption with CPU 1's address (PoP "Emergency Signal"), then
    // enters its disabled wait, and CPU 1 stops.
    let mut m = waiting_for_an_external_interruption(&[]);
    m.cpu.cr[0] |= zmmu_machine::interrupt::CR0_EMERGENCY_SIGNAL;
    let configuration = configure(
        &mut m,
        Box::new(|configuration, n| {
            let cpu1 = cpu(configuration, 1);
            match n {
                0 => configuration.slots()[0].signals().post_emergency(1),
                _ => drop(cpu1.settle(Activity::Stopped, || Stop::LimitReached)),
            }
        }),
    );
    let cpu1 = cpu(&configuration, 1);
    let _ = cpu1.settle(Activity::Running, || Stop::LimitReached);
    m.run(Some(100), &mut ());
    assert_eq!(m.cpu.psw.addr, 0x77, "in the handler's disabled wait");
    assert_eq!(u16_at(&m, 0x86), 0x1201, "emergency signal");
    assert_eq!(u16_at(&m, 0x84), 1, "from CPU 1");
}

#[test]
fn a_cpu_in_an_enabled_wait_parks_no_longer_than_its_clock_comparator_asks() {
    // CPU 0 waits, enabled for the clock comparator, which is 250 µs
    // ahead: the wait ends when the comparator's interruption becomes
    // pending (PoP "Wait State", "Clock Comparator"), so its thread parks
    // at most until then, not the park's usual millisecond. While it is
    // parked, CPU 1 (played by the test) ends the wait earlier with an
    // emergency signal.
    LONGEST_PARK.set(Some(u64::MAX));
    let mut m = waiting_for_an_external_interruption(&[]);
    m.cpu.cr[0] |= CR0_CLOCK_COMPARATOR | zmmu_machine::interrupt::CR0_EMERGENCY_SIGNAL;
    let ahead_ns = 250_000;
    m.cpu.clock_comparator = m.services.clock.peek_tod() + ns_to_tod(ahead_ns);
    let configuration = configure(
        &mut m,
        Box::new(|configuration, n| {
            let cpu1 = cpu(configuration, 1);
            match n {
                0 => configuration.slots()[0].signals().post_emergency(1),
                _ => drop(cpu1.settle(Activity::Stopped, || Stop::LimitReached)),
            }
        }),
    );
    let cpu1 = cpu(&configuration, 1);
    let _ = cpu1.settle(Activity::Running, || Stop::LimitReached);
    m.run(Some(100), &mut ());
    assert_eq!(
        u16_at(&m, 0x86),
        0x1201,
        "the emergency signal ended the wait"
    );
    let longest = LONGEST_PARK.get().expect("set above");
    assert!(
        longest <= ahead_ns,
        "parked for up to {longest} ns with the comparator {ahead_ns} ns ahead"
    );
}

/// CPU 0 senses the running status of CPU 1, which runs (or waits for a
/// timer, after `waits`) but has no thread: the condition code and status.
fn sense_running_status_of_a_running_cpu(waits: bool) -> (u64, u32) {
    let code = [sigp(0x15).as_slice(), &IPM_R6, &DONE].concat();
    let (mut m, configuration) = signalling_cpu_1(
        &code,
        Box::new(|configuration, _| {
            assert_eq!(
                configuration.slots()[0].activity(),
                Activity::DisabledWait,
                "CPU 0 waited for CPU 1's thread"
            );
            // CPU 0 is in its disabled wait: CPU 1 stops, the run ends.
            let cpu1 = cpu(configuration, 1);
            drop(cpu1.settle(Activity::Stopped, || Stop::LimitReached));
        }),
    );
    let cpu1 = cpu(&configuration, 1);
    cpu1.resume();
    if waits {
        cpu1.wait_for_timer();
    }
    m.run(Some(100), &mut ());
    assert_eq!(m.cpu.psw.addr, 0x77);
    ((m.cpu.gpr[6] >> 28) & 3, m.cpu.gpr[2] as u32)
}

#[test]
fn sense_running_status_is_answered_by_the_sender_from_what_the_cpu_last_told() {
    assert_eq!(sense_running_status_of_a_running_cpu(false), (0, 0));
    assert_eq!(
        sense_running_status_of_a_running_cpu(true),
        (1, status::NOT_RUNNING)
    );
}

#[test]
fn io_on_one_cpu_reaches_the_configurations_devices_and_the_interruption_floats_to_another() {
    // CPU 0 modifies the virtio-net device's subchannel (enabled, subclass
    // 3) and starts SENSE ID with I/O interruptions disabled, then enters a
    // disabled wait; CPU 1, in an enabled wait for I/O, takes the
    // interruption that start made pending (PoP "I/O Interruptions": any
    // CPU enabled for the subclass may take it) and enters the disabled
    // wait of the I/O-new PSW, ending the run.
    use common::channel::{ccw1, exec, s, u32_at, Ended, BLOCK, IO, SID};
    use std::sync::Mutex;
    use zmmu_cpu::clock::{Clock, TimeSource, VirtualTime, TOD_2026};
    use zmmu_machine::board::CpuState;
    use zmmu_machine::secondary::Seed;
    use zmmu_machine::virtio_ccw::VirtioCcw;

    const ORB: u64 = 0x32000;
    const CCWS: u64 = 0x31000;
    // msch 0(%r2); ssch 0(%r3); lpswe 0x300.
    let code = [
        0xB2, 0x32, 0x20, 0x00, 0xB2, 0x33, 0x30, 0x00, 0xB2, 0xB2, 0x03, 0x00,
    ];
    let mut m = machine(&code);
    m.load(0x300, &psw(DISABLED_WAIT, 0x77)).unwrap();
    m.load(0x1f0, &psw(DISABLED_WAIT, 0x10)).unwrap();
    m.services.css.add_device(Box::new(VirtioCcw::net()));
    assert_eq!(exec(&mut m, &s(0x34, 0), SID, BLOCK), Ended::Cc(0));
    let flags = u16_at(&m, BLOCK + 4) | 0x0080 | 3 << 11;
    m.load(BLOCK + 4, &flags.to_be_bytes()).unwrap();
    m.load(CCWS, &ccw1(0xE4, 0x20, 8, 0x40000)).unwrap();
    let mut orb = vec![0; 32];
    orb[4..8].copy_from_slice(&[0, 0x80, 0x80, 0]);
    orb[8..12].copy_from_slice(&(CCWS as u32).to_be_bytes());
    m.load(ORB, &orb).unwrap();
    m.load(CODE, &code).unwrap();
    m.start(CODE);
    (m.cpu.gpr[1], m.cpu.gpr[2], m.cpu.gpr[3]) = (SID, BLOCK, ORB);

    let seed = Mutex::new(Some(Seed::of(&m)));
    let css = core::mem::take(&mut m.services.css);
    let configuration = configure(
        &mut m,
        Box::new(move |configuration, n| {
            // CPU 0 parks in its disabled wait: CPU 1 runs.
            if n > 0 {
                return;
            }
            let time: Box<dyn TimeSource> = Box::new(VirtualTime::default());
            let seed = seed.lock().unwrap().take().unwrap();
            let m1 = &mut seed.cpu(1, Clock::new(time, TOD_2026));
            m1.join(cpu(configuration, 1));
            m1.services.enter(&mut m1.cpu, CpuState::Operating);
            m1.cpu.cr[6] = 0xFF00_0000;
            m1.cpu.psw.mask = IO | WAIT | BITS64;
            m1.run(Some(10), &mut ());
            assert_eq!(u32_at(m1, 0xB8), 0x0001_0000, "the subchannel's id");
        }),
    );
    configuration.adopt_css(css);
    let _ = cpu(&configuration, 1).settle(Activity::Running, || Stop::LimitReached);
    let out = m.run(Some(100), &mut ());
    assert!(
        matches!(out.stop, Stop::DisabledWait { psw } if psw.addr == 0x10),
        "CPU 1 took the I/O interruption and ended the run: {:?}",
        out.stop
    );
}

#[test]
fn an_enabled_wait_ends_when_its_clock_comparator_comes_due_and_is_counted() {
    // A lone CPU waits, enabled for the clock comparator 250 µs ahead:
    // the wait ends with the comparator's interruption as soon as it is
    // pending (PoP "Wait State", "Clock Comparator"); virtual time jumps
    // there, so the wait ends at its deadline (rounded up to the
    // nanosecond).
    let mut m = waiting_for_an_external_interruption(&[]);
    m.cpu.cr[0] |= CR0_CLOCK_COMPARATOR;
    m.cpu.clock_comparator = m.services.clock.peek_tod() + ns_to_tod(250_000);
    m.run(Some(100), &mut ());
    assert_eq!(
        u16_at(&m, 0x86),
        0x1004,
        "the clock comparator ended the wait"
    );
    let waits = m.services.waits;
    assert_eq!((waits.entered, waits.timed_out), (1, 1), "{waits:?}");
    assert!(waits.late < ns_to_tod(1), "{waits:?}");
}

#[test]
fn a_cpu_that_spins_among_several_lets_the_host_run_another_thread() {
    // CPU 0 spins (`j .`) while CPU 1 runs: on a host with fewer cores
    // than CPUs, CPU 1 may be waiting for the core CPU 0 spins on
    // (configuration::Spin); a lone CPU has no one to let run.
    let mut m = machine(&[0xA7, 0xF4, 0x00, 0x00]);
    let configuration = configure(&mut m, Box::new(|_, _| {}));
    let _ = cpu(&configuration, 1).settle(Activity::Running, || Stop::LimitReached);
    let batches = u64::from(Spin::BATCHES) * 4;
    m.run(Some(batches * configuration::BATCH), &mut ());
    assert_eq!(m.cpu.psw.addr, CODE, "still spinning");
    assert!(RELAXED.get() >= 2, "relaxed {} times", RELAXED.get());
    assert_eq!(
        LAST_RELAX.get(),
        RELAXED.get() - 1,
        "one spin: each relax counts the ones before"
    );
}

#[test]
fn a_cpu_that_keeps_moving_does_not_relax() {
    let mut spin = Spin::default();
    let same = [7u64; 16];
    let far_apart = (0..64u64).map(|n| 0x10000 + n * Spin::WINDOW);
    assert!(far_apart
        .map(|at| spin.spinning(at, &same))
        .all(|spun| spun.is_none()));
    let close = [0x20000, 0x20010, 0x20004, 0x200F0, 0x20008];
    let spun: Vec<Option<u32>> = close.iter().map(|&at| spin.spinning(at, &same)).collect();
    assert_eq!(spun, [None, None, None, None, Some(0)]);
    // Spinning on, each relax counts the ones before; moving on forgets them.
    let on: Vec<Option<u32>> = [0x20000; 8]
        .iter()
        .map(|&at| spin.spinning(at, &same))
        .collect();
    assert_eq!(on, [None, None, None, Some(1), None, None, None, Some(2)]);
    assert_eq!(spin.spinning(0x30000, &same), None);
    let again: Vec<Option<u32>> = [0x30000; 4]
        .iter()
        .map(|&at| spin.spinning(at, &same))
        .collect();
    assert_eq!(again, [None, None, None, Some(0)]);
}

#[test]
fn a_loop_that_moves_its_registers_is_no_spin() {
    // A tight loop that counts or walks a pointer ends its batches in the
    // same few bytes, but with other registers each time: it computes.
    let mut spin = Spin::default();
    let counted: Vec<Option<u32>> = (0..16u64)
        .map(|n| {
            let mut gpr = [0u64; 16];
            gpr[1] = n;
            spin.spinning(0x20000, &gpr)
        })
        .collect();
    assert!(counted.iter().all(Option::is_none), "{counted:?}");
}
