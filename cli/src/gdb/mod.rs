//! The gdb remote stub of `zmmu run --gdb ADDR:PORT [--wait-for-gdb]`,
//! built on the `gdbstub` crate, for `gdb-multiarch` with `set
//! architecture s390:64-bit` (the target description says so too).
//!
//! - [`arch`]: the register file in gdb's s390x order.
//! - [`storage`]: the debugger's reads and writes by logical address
//!   through the current DAT, by real and by absolute address.
//! - [`session`]: the machine as gdbstub's target: registers, memory,
//!   breakpoints, store watchpoints, step, continue, monitor commands.
//! - [`smp`]: the CPUs of `--smp N` as one gdb thread each, stopped and
//!   resumed together (gdb's all-stop mode).
//! - [`packet`]: framing in front of gdbstub, so that malformed packets
//!   are answered with a NAK and never end the session.
//!
//! The guest runs whenever gdb is not connected (unless
//! `--wait-for-gdb`): the stub looks for a connection every [`CHUNK`]
//! instructions (with several CPUs, which run on their own threads, every
//! few milliseconds), and after gdb detaches (or its connection fails) the
//! guest runs on and another gdb may attach.

pub mod arch;
pub mod packet;
pub mod replay;
pub mod session;
pub mod smp;
pub mod storage;

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};

use gdbstub::common::Signal;
use gdbstub::conn::Connection;
use gdbstub::stub::state_machine::GdbStubStateMachine;
use gdbstub::stub::{DisconnectReason, GdbStub, MultiThreadStopReason, SingleThreadStopReason};
use gdbstub::target::Target;
use zmmu_machine::Stop;

use arch::S390x;
use packet::{Framed, Framer};
use session::{Resume, Session};

/// gdbstub's packet buffer: the largest packet accepted (and offered to gdb
/// as `PacketSize`); the `g` packet needs 2 × 852 bytes.
pub const PACKET_BUFFER: usize = 8192;

/// Instructions the guest runs between two looks at the connection: a
/// Ctrl-C is seen within this many instructions.
pub const CHUNK: u64 = 1 << 16;

/// How often `--wait-for-gdb` looks for gdb's connection.
const WAITING: std::time::Duration = std::time::Duration::from_millis(10);

/// An engine that keeps translations of guest code (the jit, the kvm
/// engine): what a debugger stores, and what the interpreter does while
/// gdb steps or has breakpoints set (its stores into code, its
/// invalidations), do not reach them, so gdb has it drop them.
pub trait Translator: zmmu_machine::engine::Engine {
    /// Drops every translation.
    fn forget(&mut self, bus: &mut zmmu_machine::bus::DatBus);
}

impl Translator for zmmu_jit::Jit {
    fn forget(&mut self, bus: &mut zmmu_machine::bus::DatBus) {
        self.flush(bus);
    }
}

impl Translator for zmmu_kvm::KvmEngine {
    fn forget(&mut self, _: &mut zmmu_machine::bus::DatBus) {
        zmmu_kvm::KvmEngine::forget(self);
    }
}

/// The client's side of a session, as the stub reads it.
pub trait Client {
    /// The next byte, waiting for it; `None` once the client is gone.
    fn next(&mut self) -> io::Result<Option<u8>>;
    /// A byte if one has arrived, without waiting; `Err` once the client
    /// is gone.
    fn poll(&mut self) -> io::Result<Option<u8>>;
    /// Answers a malformed packet (`-`).
    fn nak(&mut self) -> io::Result<()>;
    /// Sends the packet `$body#cc`.
    fn reply(&mut self, body: &[u8]) -> io::Result<()>;
}

impl Client for TcpStream {
    fn next(&mut self) -> io::Result<Option<u8>> {
        let mut byte = [0u8];
        match self.read(&mut byte)? {
            0 => Ok(None),
            _ => Ok(Some(byte[0])),
        }
    }

    fn poll(&mut self) -> io::Result<Option<u8>> {
        self.set_nonblocking(true)?;
        let mut byte = [0u8];
        let got = self.read(&mut byte);
        self.set_nonblocking(false)?;
        match got {
            Ok(0) => Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(_) => Ok(Some(byte[0])),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn nak(&mut self) -> io::Result<()> {
        Write::write_all(self, b"-")
    }

    fn reply(&mut self, body: &[u8]) -> io::Result<()> {
        Write::write_all(self, &packet::frame(body))
    }
}

/// How a session ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ended {
    /// The guest stopped (reported to gdb as its exit).
    Guest(Stop),
    /// gdb killed the guest.
    Killed,
    /// gdb detached or its connection ended: the guest runs on.
    Detached,
}

/// What gdb debugs: one CPU ([`Session`]) or the CPUs of a configuration
/// ([`smp::Cpus`]), as a gdbstub target with the run control the stub
/// drives.
pub trait Debuggee: Target<Arch = S390x, Error = String> {
    /// Lets the guest go on for a while (at most [`CHUNK`] instructions,
    /// or a few milliseconds): the stop to report to gdb, if any; a stop
    /// that ends the guest is also left in `ended`.
    fn advance(&mut self, ended: &mut Option<Stop>) -> Option<MultiThreadStopReason<u64>>;
    /// gdb interrupted the running guest (Ctrl-C): stops it; how to tell.
    fn interrupt(&mut self) -> MultiThreadStopReason<u64>;
    /// No gdb is attached: the guest runs for a while; `Some` once it
    /// stopped for good.
    fn run_alone(&mut self) -> Option<Stop>;
    /// Whether the guest stopped for good by itself while no gdb is
    /// attached and it waits for one (`--wait-for-gdb`).
    fn outcome(&self) -> Option<Stop>;
    /// gdb attached: the guest stops (gdb expects a stopped target).
    fn attached(&mut self);
    /// gdb left: its breakpoints go, and the guest runs on.
    fn detached(&mut self);
}

impl Debuggee for Session<'_> {
    fn advance(&mut self, ended: &mut Option<Stop>) -> Option<MultiThreadStopReason<u64>> {
        run(self, ended).map(Into::into)
    }

    fn interrupt(&mut self) -> MultiThreadStopReason<u64> {
        SingleThreadStopReason::Signal(Signal::SIGINT).into()
    }

    fn run_alone(&mut self) -> Option<Stop> {
        self.run(CHUNK)
    }

    /// The guest runs only when told to: it cannot stop by itself.
    fn outcome(&self) -> Option<Stop> {
        None
    }

    /// The guest runs only in [`Debuggee::advance`]: it is stopped.
    fn attached(&mut self) {}

    fn detached(&mut self) {
        self.clear_points();
        self.resume = Resume::Continue;
    }
}

type Machine<'s, T, C> = GdbStubStateMachine<'s, T, C>;

type Error = gdbstub::stub::GdbStubError<String, io::Error>;

/// Answers a Ctrl-C the stub has seen: the guest stops with SIGINT.
fn settle<'s, T: Debuggee, C: Connection<Error = io::Error>>(
    gdb: Machine<'s, T, C>,
    target: &mut T,
) -> Result<Machine<'s, T, C>, Error> {
    match gdb {
        GdbStubStateMachine::CtrlCInterrupt(g) => {
            let reason = target.interrupt();
            g.interrupt_handled(target, Some(reason))
        }
        other => Ok(other),
    }
}

/// Feeds `bytes` to the stub, whatever state each leaves it in.
fn feed<'s, T: Debuggee, C: Connection<Error = io::Error>>(
    mut gdb: Machine<'s, T, C>,
    session: &mut T,
    bytes: &[u8],
) -> Result<Machine<'s, T, C>, Error> {
    for &byte in bytes {
        gdb = match settle(gdb, session)? {
            GdbStubStateMachine::Idle(g) => g.incoming_data(session, byte)?,
            GdbStubStateMachine::Running(g) => g.incoming_data(session, byte)?,
            other => return Ok(other),
        };
    }
    settle(gdb, session)
}

/// Lets the guest run until it stops or the run is due to look at the
/// connection again: the stop to report, if any.
fn run(session: &mut Session<'_>, ended: &mut Option<Stop>) -> Option<SingleThreadStopReason<u64>> {
    let max = match session.resume {
        Resume::Step => 1,
        Resume::Continue => CHUNK,
    };
    match session.run(max) {
        None if session.resume == Resume::Continue => None,
        None => Some(SingleThreadStopReason::DoneStep),
        Some(stop) => Some(session.stop_reason(&stop).unwrap_or_else(|| {
            let psw = session.machine.cpu.psw;
            let status = crate::report::stop_status(&stop, &psw).0;
            *ended = Some(stop);
            SingleThreadStopReason::Exited(status)
        })),
    }
}

/// How one stub instance ended.
enum Instance {
    /// The session is over.
    Over(Ended),
    /// A packet gdbstub could not take (answered `E01`): a new instance
    /// takes the session on.
    Refused,
}

/// One gdb session: gdbstub instances writing to what `connect` gives and
/// reading `client`, until gdb detaches, kills the guest, the guest stops,
/// or the connection fails (an `Err`, after which the guest runs on). A
/// packet gdbstub cannot take (a malformed command, say) is answered with
/// `E01` and the session goes on with a fresh instance: breakpoints and
/// the guest's state live in `session`, not in gdbstub.
pub fn debug<T: Debuggee, C: Connection<Error = io::Error>>(
    mut connect: impl FnMut() -> io::Result<C>,
    client: &mut dyn Client,
    session: &mut T,
) -> Result<Ended, String> {
    let mut framer = Framer::new(PACKET_BUFFER);
    loop {
        let conn = connect().map_err(|e| e.to_string())?;
        match instance(conn, client, session, &mut framer)? {
            Instance::Over(ended) => return Ok(ended),
            Instance::Refused => client.reply(b"E01").map_err(|e| e.to_string())?,
        }
    }
}

/// The value of a gdbstub call; a connection error ends the session, any
/// other is the packet's fault and ends the instance ([`Instance::Refused`]).
macro_rules! stub {
    ($call:expr) => {
        match $call {
            Ok(value) => value,
            Err(e) if e.is_connection_error() => return Err(e.to_string()),
            Err(_) => return Ok(Instance::Refused),
        }
    };
}

fn instance<T: Debuggee, C: Connection<Error = io::Error>>(
    conn: C,
    client: &mut dyn Client,
    session: &mut T,
    framer: &mut Framer,
) -> Result<Instance, String> {
    let stub = GdbStub::builder(conn)
        .packet_buffer_size(PACKET_BUFFER)
        .build()
        .map_err(|e| e.to_string())?;
    let mut gdb = stub!(stub.run_state_machine(session));
    let mut ended = None;
    loop {
        let byte = match gdb {
            GdbStubStateMachine::Disconnected(g) => {
                return Ok(Instance::Over(match (ended, g.get_reason()) {
                    (Some(stop), _) => Ended::Guest(stop),
                    (None, DisconnectReason::Kill) => Ended::Killed,
                    (None, _) => Ended::Detached,
                }));
            }
            GdbStubStateMachine::Running(g) => match client.poll() {
                Err(_) => return Ok(Instance::Over(Ended::Detached)),
                Ok(Some(byte)) => {
                    gdb = GdbStubStateMachine::Running(g);
                    byte
                }
                Ok(None) => {
                    gdb = match session.advance(&mut ended) {
                        Some(reason) => stub!(g.report_stop(session, reason)),
                        None => GdbStubStateMachine::Running(g),
                    };
                    continue;
                }
            },
            other => {
                gdb = other;
                match client.next() {
                    Ok(Some(byte)) => byte,
                    Ok(None) | Err(_) => return Ok(Instance::Over(Ended::Detached)),
                }
            }
        };
        match framer.push(byte) {
            Framed::Pending => {}
            Framed::Reject => client.nak().map_err(|e| e.to_string())?,
            Framed::Refuse => return Ok(Instance::Refused),
            Framed::Pass(bytes) => gdb = stub!(feed(gdb, session, &bytes)),
        }
    }
}

/// Serves gdb on `address` while the guest runs (after the first
/// connection when `wait`), until the guest stops or gdb kills it.
pub fn serve(address: &str, wait: bool, session: &mut impl Debuggee) -> Result<Stop, String> {
    let listener =
        TcpListener::bind(address).map_err(|e| format!("--gdb {address}: cannot listen: {e}"))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    eprintln!("zmmu: gdb stub listening on {local}");
    let mut waiting = wait;
    loop {
        let stream = match accept_while_running(&listener, session, waiting)? {
            Ok(stream) => stream,
            Err(stop) => return Ok(stop),
        };
        waiting = false;
        session.attached();
        let mut client = stream.try_clone().map_err(|e| e.to_string())?;
        let ended = debug(|| stream.try_clone(), &mut client, session);
        match ended {
            Ok(Ended::Guest(stop)) => return Ok(stop),
            Ok(Ended::Killed) => return Ok(Stop::Paused),
            Ok(Ended::Detached) => eprintln!("zmmu: gdb detached; the guest runs on"),
            Err(e) => eprintln!("zmmu: the gdb session ended: {e}; the guest runs on"),
        }
        session.detached();
    }
}

/// Runs the guest (unless `waiting` for gdb: then the guest waits too)
/// until a gdb connects (`Ok`) or the guest stops (`Err`).
fn accept_while_running(
    listener: &TcpListener,
    session: &mut impl Debuggee,
    waiting: bool,
) -> Result<Result<TcpStream, Stop>, String> {
    listener.set_nonblocking(true).map_err(|e| e.to_string())?;
    let accepted = loop {
        match listener.accept() {
            Ok((stream, _)) => break Ok(stream),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                let stop = if waiting {
                    std::thread::sleep(WAITING);
                    session.outcome()
                } else {
                    session.run_alone()
                };
                if let Some(stop) = stop {
                    break Err(stop);
                }
            }
            Err(e) => return Err(e.to_string()),
        }
    };
    listener.set_nonblocking(false).map_err(|e| e.to_string())?;
    if let Ok(stream) = &accepted {
        stream.set_nonblocking(false).map_err(|e| e.to_string())?;
    }
    Ok(accepted)
}
