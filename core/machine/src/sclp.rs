//! The service-call logical processor (SCLP) as QEMU's `s390-ccw-virtio`
//! machine implements it: SERVICE CALL with
//!
//! * *read SCP info* (0x00020001, forced 0x00120001) and *read CPU info*
//!   (0x00010001): storage increments, CPUs and facilities from an
//!   [`SclpConfig`] the machine provides;
//! * *configure / deconfigure I/O adapter* (0x001A0001 / 0x001B0001): no
//!   adapter exists;
//! * the event facility: *write event mask* (0x00780005), *write event
//!   data* (0x00760005) and *read event data* (0x00770005) with the VT220
//!   console (ASCII data, event type 0x1A), the line-mode console (message
//!   0x02 out, operator command 0x01 in, EBCDIC), control-program
//!   identification (0x0B) and the signal-quiesce event (0x1D).
//!
//! The Principles of Operation do not define the SCLP; QEMU and the
//! kvm-unit-tests `sclp` test are the references; Linux's SCLP driver
//! names the same layouts (`struct read_info_sccb`).
//!
//! Completion is signalled by a service-signal external interruption (code
//! 0x2401) whose parameter is the SCCB address, with [`EVENT_PENDING`] set
//! while an event waits to be read ([`Serviced`]). Events that arrive
//! between calls (terminal input, a quiesce request) ask for a service
//! signal of their own: see [`Sclp::attention`].
//!
//! The SCCB is untrusted guest data: every length is checked against the
//! SCCB and the SCCB against storage, nothing here can panic, no more than
//! one SCCB (at most 64 KiB, its length being 16 bits) is ever allocated,
//! and nothing outside the SCCB is written.

use alloc::collections::VecDeque;
use alloc::vec;
use alloc::vec::Vec;

use zmmu_mmu::addr::AbsoluteAddress;
use zmmu_mmu::exception::Code;
use zmmu_mmu::exception::Exception;
use zmmu_mmu::storage::Storage;

/// SCLP command words (after masking with [`COMMAND_MASK`]).
pub mod command {
    /// Read SCP information.
    pub const READ_SCP_INFO: u32 = 0x0002_0001;
    /// Read SCP information, forced.
    pub const READ_SCP_INFO_FORCED: u32 = 0x0012_0001;
    /// Read CPU information.
    pub const READ_CPU_INFO: u32 = 0x0001_0001;
    /// Configure an I/O adapter.
    pub const CONFIGURE_IOA: u32 = 0x001A_0001;
    /// Deconfigure an I/O adapter.
    pub const DECONFIGURE_IOA: u32 = 0x001B_0001;
    /// Read event data.
    pub const READ_EVENT_DATA: u32 = 0x0077_0005;
    /// Write event data.
    pub const WRITE_EVENT_DATA: u32 = 0x0076_0005;
    /// Write event mask.
    pub const WRITE_EVENT_MASK: u32 = 0x0078_0005;
}

/// The bits of a command word that select the command (QEMU
/// `SCLP_CMD_CODE_MASK`): the byte in between is ignored.
pub const COMMAND_MASK: u32 = 0xFFFF_00FF;

/// SCCB response codes, with QEMU's values (`SCLP_RC_*`).
pub mod response {
    /// Normal completion of a read command (read SCP / CPU info).
    pub const NORMAL_READ: u16 = 0x0010;
    /// Normal completion.
    pub const NORMAL: u16 = 0x0020;
    /// The SCCB crosses a page boundary (or is longer than 4 KiB).
    pub const BOUNDARY_VIOLATION: u16 = 0x0100;
    /// Invalid SCLP command.
    pub const INVALID_COMMAND: u16 = 0x01F0;
    /// Insufficient SCCB length.
    pub const INSUFFICIENT_LENGTH: u16 = 0x0300;
    /// The adapter type of configure / deconfigure I/O adapter is unknown.
    pub const ADAPTER_TYPE_NOT_RECOGNIZED: u16 = 0x06F0;
    /// No adapter has the identifier of configure / deconfigure I/O adapter.
    pub const ADAPTER_ID_NOT_RECOGNIZED: u16 = 0x09F0;
    /// Invalid function code.
    pub const INVALID_FUNCTION: u16 = 0x40F0;
    /// Read event data found no event to store.
    pub const NO_EVENT_BUFFERS: u16 = 0x60F0;
    /// Selective read with a mask outside the receive mask.
    pub const INVALID_SELECTION_MASK: u16 = 0x70F0;
    /// Lengths inside an event buffer do not add up (line-mode message).
    pub const INCONSISTENT_LENGTHS: u16 = 0x72F0;
    /// Event buffer syntax error.
    pub const EVENT_BUFFER_SYNTAX: u16 = 0x73F0;
    /// Invalid mask length.
    pub const INVALID_MASK_LENGTH: u16 = 0x74F0;
}

/// Event type of a line-mode operator command (SCLP to program).
pub const EVENT_OPERATOR_COMMAND: u8 = 0x01;
/// Event type of a line-mode message (program to SCLP).
pub const EVENT_MESSAGE: u8 = 0x02;
/// Event type of configuration-management data (CPU hotplug).
pub const EVENT_CONFIG_MGT: u8 = 0x04;
/// Event type of a priority message or command (line mode, both ways).
pub const EVENT_PRIORITY_MESSAGE_COMMAND: u8 = 0x09;
/// Event type of control-program identification (program to SCLP).
pub const EVENT_CONTROL_PROGRAM_ID: u8 = 0x0B;
/// Event type of ASCII console data (the VT220 console).
pub const EVENT_ASCII: u8 = 0x1A;
/// Event type of the signal-quiesce event (SCLP to program).
pub const EVENT_SIGNAL_QUIESCE: u8 = 0x1D;
/// Event-buffer flag: the buffer was accepted.
pub const BUFFER_ACCEPTED: u8 = 0x80;

/// The bit of the service-signal parameter that says an event is pending
/// (QEMU `sclp_service_interrupt`, Linux's `evbuf_pending`).
pub const EVENT_PENDING: u32 = 1;

/// The 64-bit event mask bit of an event type (QEMU `SCLP_EVMASK`): type 1
/// is the leftmost bit; types outside 1-64 have none.
pub const fn event_mask(event: u8) -> u64 {
    if event == 0 || event > 64 {
        0
    } else {
        1u64 << (64 - event as u32)
    }
}

/// Read-event-data function code: read every event the receive mask allows.
pub const UNCONDITIONAL_READ: u8 = 0x00;
/// Read-event-data function code: read the events of the selection mask in
/// the SCCB.
pub const SELECTIVE_READ: u8 = 0x01;
/// Control-mask bit (byte 2 of the control mask, SCCB byte 5): the SCLP
/// may change the SCCB length (QEMU `SCLP_VARIABLE_LENGTH_RESPONSE`).
pub const VARIABLE_LENGTH_RESPONSE: u8 = 0x80;

/// The highest CPU count QEMU's s390x machines allow (`S390_MAX_CPUS`).
pub const MAX_CPUS: u16 = 248;

/// The largest mask length QEMU accepts (`SCLP_EVENT_MASK_LEN_MAX`).
const MASK_LENGTH_MAX: u16 = 1021;
/// The SCCB header: length, function code, control mask, response code.
const HEADER: usize = 8;
/// The size of an SCCB that must fit a 4 KiB page (QEMU `SCCB_SIZE`).
const SCCB_SIZE: usize = 4096;
/// An event-buffer header: length, type, flags, reserved.
const EVENT_HEADER: usize = 6;
/// A CPU entry of read SCP / CPU info (QEMU `CPUEntry`).
const CPU_ENTRY: usize = 16;
/// The fixed part of read SCP info (QEMU `sizeof(ReadInfo)`).
const READ_INFO_SIZE: usize = 144;
/// Where read SCP info's CPU entries start without the extended-length
/// SCCB facility (QEMU `SCLP_READ_SCP_INFO_FIXED_CPU_OFFSET`).
const READ_INFO_FIXED_CPU_OFFSET: usize = 128;
/// The fixed part of read CPU info (QEMU `sizeof(ReadCpuInfo)`).
const READ_CPU_INFO_SIZE: usize = 24;
/// The console input the SCLP holds (QEMU's VT220 buffer,
/// `SIZE_BUFFER_VT220`).
pub const INPUT_CAPACITY: usize = 4080;
/// The header of a line-mode operator command: event-buffer header and
/// the MDS message unit (QEMU `OprtnsCommand`).
const OPERATOR_COMMAND_HEADER: usize = EVENT_HEADER + 16;
/// The longest line-mode command QEMU keeps (`SIZE_CONSOLE_BUFFER`); the
/// rest of a longer line is dropped.
const LINE_MAX: usize = SCCB_SIZE - HEADER - OPERATOR_COMMAND_HEADER;
/// A signal-quiesce event buffer: header, timeout, unit.
const SIGNAL_QUIESCE_SIZE: usize = EVENT_HEADER + 3;
/// A line-mode message's MDB header: length, type, tag, revision code.
const MDB_HEADER: usize = 12;
/// A message-text object's header: length, type, line-type flags, alarm
/// control, reserved (the text follows).
const MTO_HEADER: usize = 10;
/// The MDB object type of message text (QEMU `MESSAGE_TEXT`).
const MESSAGE_TEXT: u16 = 0x0004;

/// Read SCP info's facilities word as QEMU sets it: CPU info
/// (`SCLP_HAS_CPU_INFO`) and I/O-adapter reconfiguration
/// (`SCLP_HAS_IOA_RECONFIG`).
pub const SCP_FACILITIES: u64 = 0x0800_0000_0000_0000 | 0x0000_0000_4000_0000;

/// Configuration-characteristic bits of read SCP info (bytes 80-98) as
/// `(byte offset in the SCCB, bit mask)`, named as QEMU's CPU model names
/// them.
pub mod conf_char {
    /// Enhanced-suppression-on-protection facility (QEMU `esop`, reported
    /// by QEMU's `qemu` and `max` CPU models since QEMU 6.0): SCCB byte 85,
    /// bit 6.
    pub const ESOP: (usize, u8) = (85, 0x02);
}

/// What the machine tells the SCLP about itself: what read SCP info and
/// read CPU info report, and which event handlers exist. The defaults are
/// QEMU's for a 1-CPU `s390-ccw-virtio` machine under TCG with the `qemu`
/// CPU model, started as kvm-unit-tests starts it (`-nodefaults -device
/// sclpconsole`), minus what zmmu does not implement (ESOP, zPCI).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SclpConfig {
    /// The storage size reported as 1 MiB increments; `None`: the size of
    /// the storage passed to [`Sclp::service_call`].
    pub memory_size: Option<u64>,
    /// The addresses of the configured CPUs, in the order QEMU lists them.
    pub cpus: Vec<u8>,
    /// The number of CPUs the machine may have (`-smp maxcpus`), 1 to
    /// [`MAX_CPUS`]; the read-info SCCBs must have room for this many.
    pub max_cpus: u16,
    /// The IBC value (read SCP info bytes 76-79): 0 under TCG, where QEMU
    /// knows no lowest IBC.
    pub ibc: u32,
    /// Configuration characteristics, SCCB bytes 80-98 (see [`conf_char`]);
    /// ORed into the SCCB as QEMU does.
    pub conf_char: [u8; 19],
    /// Maximum host address as a power of 2 (byte 99): 47 for every CPU
    /// QEMU's `qemu` model is based on (z13 and later).
    pub mha_pow: u8,
    /// Configuration characteristics extension, SCCB bytes 116-119 (SIE
    /// features: none under TCG); ORed into the SCCB.
    pub conf_char_ext: [u8; 4],
    /// The HMFAI value (bytes 124-127): QEMU's 0x08000000 for z13 and later.
    pub hmfai: u32,
    /// The feature bytes of every CPU entry (entry bytes 2-7; SIE features:
    /// none under TCG).
    pub cpu_features: [u8; 6],
    /// The extended-length-SCCB facility (facility 140, not in QEMU's
    /// `qemu` model): read SCP / CPU info may cross a page boundary and
    /// report the length they need, CPU entries start at byte 144.
    pub extended_length_sccb: bool,
    /// SCCB byte 134 (e.g. DIAG 318), written only with the
    /// extended-length-SCCB facility; ORed.
    pub fac134: u8,
    /// SCCB bytes 136-137 (IPL facilities), as `fac134`.
    pub fac_ipl: [u8; 2],
    /// SCCB byte 139, as `fac134`.
    pub fac139: u8,
    /// The load parameter in EBCDIC (bytes 24-31); see
    /// [`SclpConfig::set_loadparm`]. QEMU's default is blanks.
    pub loadparm: [u8; 8],
    /// Whether the zPCI facility (69) is installed: configure I/O adapter
    /// of the PCI type then looks for a PCI function (there is none).
    pub zpci: bool,
    /// A VT220 console (`-device sclpconsole`, or the first serial port).
    pub vt220_console: bool,
    /// A line-mode console (`-device sclplmconsole`, or the second serial
    /// port).
    pub line_mode_console: bool,
    /// The control-program-identification event (QEMU 10.1 machines).
    pub control_program_id: bool,
}

impl Default for SclpConfig {
    fn default() -> Self {
        Self {
            memory_size: None,
            cpus: vec![0],
            max_cpus: 1,
            ibc: 0,
            conf_char: [0; 19],
            mha_pow: 47,
            conf_char_ext: [0; 4],
            hmfai: 0x0800_0000,
            cpu_features: [0; 6],
            extended_length_sccb: false,
            fac134: 0,
            fac_ipl: [0; 2],
            fac139: 0,
            loadparm: [0x40; 8],
            zpci: false,
            vt220_console: true,
            line_mode_console: false,
            control_program_id: false,
        }
    }
}

impl SclpConfig {
    /// Sets a configuration-characteristic bit (one of [`conf_char`]).
    pub fn set_conf_char(&mut self, (byte, mask): (usize, u8)) {
        if let Some(b) = byte.checked_sub(80).and_then(|i| self.conf_char.get_mut(i)) {
            *b |= mask;
        }
    }

    /// Sets the load parameter from its ASCII form as QEMU converts
    /// `-machine loadparm=`: up to 8 characters in EBCDIC, blank-padded.
    pub fn set_loadparm(&mut self, ascii: &[u8]) {
        self.loadparm = [0x40; 8];
        for (d, &c) in self
            .loadparm
            .iter_mut()
            .zip(ascii.iter().take_while(|&&c| c != 0))
        {
            *d = ASCII_TO_EBCDIC[usize::from(c)];
        }
    }

    /// The CPU count QEMU sizes the read-info SCCBs for.
    fn max_cpus(&self) -> usize {
        usize::from(self.max_cpus.clamp(1, MAX_CPUS))
    }

    /// The configured CPUs that fit the read-info SCCBs.
    fn configured_cpus(&self) -> impl Iterator<Item = u8> + '_ {
        self.cpus.iter().copied().take(self.max_cpus())
    }

    /// The events the SCLP accepts from the program (QEMU's
    /// `get_host_receive_mask`, the OR of every event handler's).
    pub fn sclp_receive_mask(&self) -> u64 {
        let mut mask = 0;
        if self.vt220_console {
            mask |= event_mask(EVENT_ASCII);
        }
        if self.line_mode_console {
            mask |= event_mask(EVENT_MESSAGE) | event_mask(EVENT_PRIORITY_MESSAGE_COMMAND);
        }
        if self.control_program_id {
            mask |= event_mask(EVENT_CONTROL_PROGRAM_ID);
        }
        mask
    }

    /// The events the SCLP may send (QEMU's `get_host_send_mask`): the
    /// consoles', signal quiesce and CPU configuration changes, which QEMU
    /// always has.
    pub fn sclp_send_mask(&self) -> u64 {
        let mut mask = event_mask(EVENT_SIGNAL_QUIESCE) | event_mask(EVENT_CONFIG_MGT);
        if self.vt220_console {
            mask |= event_mask(EVENT_ASCII);
        }
        if self.line_mode_console {
            mask |= LINE_MODE_SEND_MASK;
        }
        mask
    }
}

/// The events the line-mode console sends (QEMU sclplmconsole's send mask).
const LINE_MODE_SEND_MASK: u64 =
    event_mask(EVENT_OPERATOR_COMMAND) | event_mask(EVENT_PRIORITY_MESSAGE_COMMAND);

/// What a SERVICE CALL did besides its storage effects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Serviced {
    /// The external-interruption parameter of the service signal now
    /// pending: the SCCB address, with [`EVENT_PENDING`] set if an event
    /// waits to be read.
    pub parameter: u32,
}

/// The SCLP state: its configuration, the event masks the guest
/// registered, console output not yet taken and input not yet read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Sclp {
    /// What the machine reports and which event handlers exist.
    pub config: SclpConfig,
    /// The guest's receive mask (events it accepts), from write event mask.
    pub receive_mask: u64,
    /// Console output not yet taken by [`Sclp::take_console`]: VT220 data
    /// as written, line-mode messages converted to ASCII, each line after a
    /// newline.
    pub console: Vec<u8>,
    /// The mask length of the last write event mask (QEMU starts with 4);
    /// selective reads take their mask in this length.
    mask_length: u16,
    /// Terminal input not yet read by the guest.
    input: VecDeque<u8>,
    /// A quiesce (power-down) request waits to be read.
    quiesce: bool,
}

impl Sclp {
    /// An SCLP with this configuration and no guest state.
    pub fn new(config: SclpConfig) -> Self {
        Self {
            config,
            ..Self::default()
        }
    }

    /// The console bytes written since the last call.
    pub fn take_console(&mut self) -> Vec<u8> {
        core::mem::take(&mut self.console)
    }

    /// Resets the event facility as a machine reset does in QEMU: the
    /// receive mask, pending input and a pending quiesce request are
    /// dropped.
    pub fn reset(&mut self) {
        self.receive_mask = 0;
        self.input.clear();
        self.quiesce = false;
    }

    /// Hands the SCLP bytes typed at the machine's terminal; returns how
    /// many it took. It holds at most [`INPUT_CAPACITY`] bytes, as QEMU's
    /// VT220 console does (plus one line end, so that a line-mode line can
    /// always complete): offer the rest again once the guest has read.
    ///
    /// The guest reads the input as VT220 data if its read mask selects
    /// ASCII console data and a VT220 console exists, otherwise one line at
    /// a time (up to a CR or LF, each ending a line) as a line-mode
    /// command. Afterwards, raise a service signal if [`Sclp::attention`]
    /// says so.
    pub fn push_input(&mut self, bytes: &[u8]) -> usize {
        let mut taken = 0;
        for &b in bytes {
            let line_end = (b == b'\r' || b == b'\n') && !self.has_line();
            if self.input.len() >= INPUT_CAPACITY && !line_end {
                break;
            }
            self.input.push_back(b);
            taken += 1;
        }
        taken
    }

    /// The input bytes the guest has not read yet.
    pub fn pending_input(&self) -> usize {
        self.input.len()
    }

    /// Asks the guest to shut down, as QEMU's `system_powerdown` does: a
    /// signal-quiesce event becomes pending. Afterwards, raise a service
    /// signal if [`Sclp::attention`] says so.
    pub fn request_quiesce(&mut self) {
        self.quiesce = true;
    }

    /// Whether an event waits that the guest's receive mask accepts (QEMU
    /// `event_pending`): it is reported in every service-signal parameter.
    pub fn has_pending_events(&self) -> bool {
        let mask = self.receive_mask;
        (self.config.vt220_console && mask & event_mask(EVENT_ASCII) != 0 && !self.input.is_empty())
            || (self.config.line_mode_console && mask & LINE_MODE_SEND_MASK != 0 && self.has_line())
            || (self.quiesce && mask & event_mask(EVENT_SIGNAL_QUIESCE) != 0)
    }

    /// The parameter of the service-signal external interruption QEMU
    /// raises when an event arrives outside a SERVICE CALL
    /// (`sclp_service_interrupt(0)`): `Some(EVENT_PENDING)` when an event
    /// the guest accepts is pending, `None` when no signal is due. If a
    /// service signal is already pending, QEMU ORs the parameters.
    pub fn attention(&self) -> Option<u32> {
        self.has_pending_events().then_some(EVENT_PENDING)
    }

    /// SERVICE CALL with command word `command` and the SCCB at absolute
    /// address `sccb` (the real address, which QEMU uses unprefixed; an
    /// SCCB in the first 8 KiB is refused, so both agree). `prefix` is the
    /// CPU's prefix.
    ///
    /// Program exceptions in QEMU's order (`sclp_service_call`): addressing
    /// if the SCCB address is outside storage; specification if the SCCB
    /// is in the low 8 KiB or the prefix area, not doubleword aligned or at
    /// or above 2 GiB; addressing if its header is outside storage;
    /// specification if its length is below the header size; addressing if
    /// the SCCB runs past the end of storage. Then the response code:
    /// [`response::INVALID_COMMAND`] for an unknown command,
    /// [`response::BOUNDARY_VIOLATION`] for an SCCB crossing a 4 KiB
    /// boundary (except read SCP / CPU info with the extended-length-SCCB
    /// facility), else the command's own.
    pub fn service_call<S: Storage + ?Sized>(
        &mut self,
        storage: &mut S,
        prefix: u64,
        command: u32,
        sccb: u64,
    ) -> Result<Serviced, Exception> {
        if !storage.contains(AbsoluteAddress::new(sccb)) {
            return Err(Exception::new(Code::ADDRESSING));
        }
        if sccb & !0x1FFF == 0 || sccb & !0x1FFF == prefix || sccb & !0x7FFF_FFF8 != 0 {
            return Err(Exception::new(Code::SPECIFICATION));
        }
        let at = AbsoluteAddress::new(sccb);
        let mut header = [0u8; HEADER];
        storage
            .read(at, &mut header)
            .ok_or(Exception::new(Code::ADDRESSING))?;
        let length = usize::from(u16::from_be_bytes([header[0], header[1]]));
        if length < HEADER {
            return Err(Exception::new(Code::SPECIFICATION));
        }
        // QEMU reads the whole SCCB before it looks at the command.
        if sccb + length as u64 > storage.size() {
            return Err(Exception::new(Code::ADDRESSING));
        }
        let code = command & COMMAND_MASK;
        let refused = if !is_command(code) {
            Some(response::INVALID_COMMAND)
        } else if !self.within_boundary(sccb, length, code) {
            Some(response::BOUNDARY_VIOLATION)
        } else {
            None
        };
        if let Some(rc) = refused {
            // QEMU writes the SCCB back unchanged but for the response code.
            storage
                .write(AbsoluteAddress::new(sccb + 6), &rc.to_be_bytes())
                .ok_or(Exception::new(Code::PROTECTION))?;
        } else {
            let mut block = vec![0u8; length];
            storage
                .read(at, &mut block)
                .ok_or(Exception::new(Code::ADDRESSING))?;
            let memory = self.config.memory_size.unwrap_or(storage.size());
            let rc = self.execute(&mut block, code, memory);
            put_u16(&mut block, 6, rc);
            storage
                .write(at, &block)
                .ok_or(Exception::new(Code::PROTECTION))?;
        }
        let pending = if self.has_pending_events() {
            EVENT_PENDING
        } else {
            0
        };
        Ok(Serviced {
            parameter: (sccb as u32 & !3) | pending,
        })
    }

    /// QEMU `sccb_verify_boundary`: the SCCB must not cross a 4 KiB
    /// boundary, except for read SCP / CPU info with the extended-length
    /// SCCB facility.
    fn within_boundary(&self, sccb: u64, length: usize, code: u32) -> bool {
        let extended = matches!(
            code,
            command::READ_SCP_INFO | command::READ_SCP_INFO_FORCED | command::READ_CPU_INFO
        ) && self.config.extended_length_sccb;
        extended || (sccb & 0xFFF) + length as u64 <= 0x1000
    }

    /// Runs a valid command on the private copy of the SCCB; returns the
    /// response code.
    fn execute(&mut self, block: &mut [u8], code: u32, memory: u64) -> u16 {
        match code {
            command::READ_SCP_INFO | command::READ_SCP_INFO_FORCED => {
                self.read_scp_info(block, memory)
            }
            command::READ_CPU_INFO => self.read_cpu_info(block),
            command::CONFIGURE_IOA | command::DECONFIGURE_IOA => self.configure_io_adapter(block),
            command::READ_EVENT_DATA => self.read_event_data(block),
            command::WRITE_EVENT_DATA => self.write_event_data(block),
            command::WRITE_EVENT_MASK => self.write_event_mask(block),
            _ => response::INVALID_COMMAND,
        }
    }

    /// Whether the SCCB is too short for `required` bytes; if so, with the
    /// extended-length-SCCB facility and the variable-length bit, the
    /// length field is set to `required` (QEMU `ext_len_sccb_supported`).
    fn too_short(&self, block: &mut [u8], required: usize) -> bool {
        if block.len() >= required {
            return false;
        }
        if self.config.extended_length_sccb
            && block
                .get(5)
                .is_some_and(|&c| c & VARIABLE_LENGTH_RESPONSE != 0)
        {
            put_u16(block, 0, required as u16);
        }
        true
    }

    /// Read SCP info in QEMU's `ReadInfo` layout (Linux `struct
    /// read_info_sccb`), writing only the fields QEMU writes: storage in
    /// 1 MiB increments (`rnsize` 1, `rnmax` or, from 64 Ki increments on,
    /// `rnmax2`), the CPUs, facilities, IBC, configuration characteristics
    /// (ORed in), MHA power, highest CPU address, HMFAI and load parameter.
    /// The SCCB must hold an entry for every possible CPU.
    fn read_scp_info(&self, block: &mut [u8], memory: u64) -> u16 {
        let cfg = &self.config;
        let required = READ_INFO_SIZE + CPU_ENTRY * cfg.max_cpus();
        if self.too_short(block, required) {
            return response::INSUFFICIENT_LENGTH;
        }
        let offset_cpu = if cfg.extended_length_sccb {
            READ_INFO_SIZE
        } else {
            READ_INFO_FIXED_CPU_OFFSET
        };
        let count = self.cpu_entries(block, offset_cpu);
        put_u16(block, 16, count);
        put_u16(block, 18, offset_cpu as u16);
        put_u16(block, 120, cfg.max_cpus() as u16 - 1);
        put_u32(block, 76, cfg.ibc);
        or_bytes(block, 80, &cfg.conf_char);
        or_bytes(block, 116, &cfg.conf_char_ext);
        if cfg.extended_length_sccb {
            or_bytes(block, 134, &[cfg.fac134]);
            or_bytes(block, 136, &cfg.fac_ipl);
            or_bytes(block, 139, &[cfg.fac139]);
        }
        put_u64(block, 48, SCP_FACILITIES);
        put(block, 99, &[cfg.mha_pow]);
        put_u32(block, 124, cfg.hmfai);
        put(block, 10, &[1]);
        let increments = memory >> 20;
        if increments < 0x1_0000 {
            put_u16(block, 8, increments as u16);
        } else {
            put_u16(block, 8, 0);
            put_u64(block, 104, increments);
        }
        put(block, 24, &cfg.loadparm);
        response::NORMAL_READ
    }

    /// Read CPU info in QEMU's `ReadCpuInfo` layout: the configured CPUs'
    /// count and entries from byte 24, no standby CPUs, the standby offset
    /// after the configured entries.
    fn read_cpu_info(&self, block: &mut [u8]) -> u16 {
        let required = READ_CPU_INFO_SIZE + CPU_ENTRY * self.config.max_cpus();
        if self.too_short(block, required) {
            return response::INSUFFICIENT_LENGTH;
        }
        let count = self.cpu_entries(block, READ_CPU_INFO_SIZE);
        put_u16(block, 8, count);
        put_u16(block, 10, READ_CPU_INFO_SIZE as u16);
        put_u16(block, 12, 0);
        put_u16(
            block,
            14,
            (READ_CPU_INFO_SIZE + CPU_ENTRY * usize::from(count)) as u16,
        );
        response::NORMAL_READ
    }

    /// QEMU `prepare_cpu_entries`: for each configured CPU, its address
    /// (entry byte 0), features (bytes 2-7) and type 0 (byte 14); the other
    /// entry bytes are left alone. Returns the number of entries.
    fn cpu_entries(&self, block: &mut [u8], offset: usize) -> u16 {
        let mut count = 0;
        for (i, address) in self.config.configured_cpus().enumerate() {
            let entry = offset + CPU_ENTRY * i;
            put(block, entry, &[address]);
            put(block, entry + 2, &self.config.cpu_features);
            put(block, entry + 14, &[0]);
            count += 1;
        }
        count
    }

    /// Configure / deconfigure I/O adapter (QEMU
    /// `sclp_configure_io_adapter`): the SCCB must reach the adapter
    /// identifier (16 bytes); only the PCI type (2) is known, and only with
    /// zPCI, and then no PCI function has the identifier.
    fn configure_io_adapter(&self, block: &mut [u8]) -> u16 {
        const PCI: u8 = 2;
        if block.len() < 16 {
            return response::INSUFFICIENT_LENGTH;
        }
        if block.get(8) == Some(&PCI) && self.config.zpci {
            response::ADAPTER_ID_NOT_RECOGNIZED
        } else {
            response::ADAPTER_TYPE_NOT_RECOGNIZED
        }
    }

    /// Write event mask: records the guest's receive mask and its length
    /// and answers the SCLP's own receive and send masks, each
    /// `mask_length` bytes (the first 8 significant, the rest zero).
    /// zmmu answers [`response::INSUFFICIENT_LENGTH`] when the four masks
    /// do not fit the SCCB (QEMU does not check).
    fn write_event_mask(&mut self, block: &mut [u8]) -> u16 {
        let Some(mask_length) = u16_at(block, 10) else {
            return response::INSUFFICIENT_LENGTH;
        };
        if mask_length == 0 || mask_length > MASK_LENGTH_MAX {
            return response::INVALID_MASK_LENGTH;
        }
        let len = usize::from(mask_length);
        // Four masks follow: CP receive, CP send, SCLP receive, SCLP send.
        let Some(masks) = block.get_mut(12..12 + 4 * len) else {
            return response::INSUFFICIENT_LENGTH;
        };
        self.receive_mask = read_mask(&masks[..len]);
        write_mask(
            &mut masks[2 * len..3 * len],
            self.config.sclp_receive_mask(),
        );
        write_mask(&mut masks[3 * len..4 * len], self.config.sclp_send_mask());
        self.mask_length = mask_length;
        response::NORMAL
    }

    /// Write event data (QEMU `write_event_data`): function code 0 only;
    /// the event buffers must exactly fill the SCCB; then each goes to the
    /// handler of its type, and once one fails the later ones are marked
    /// not accepted. The VT220 console prints type 0x1A, the line-mode
    /// console types 0x02 and 0x09, control-program identification takes
    /// type 0x0B; any other type, or a type whose handler is not
    /// configured, is an invalid function.
    fn write_event_data(&mut self, block: &mut [u8]) -> u16 {
        if block.get(2) != Some(&0) {
            return response::INVALID_FUNCTION;
        }
        let Ok(offsets) = event_buffers(block) else {
            return response::EVENT_BUFFER_SYNTAX;
        };
        let mut rc = response::NORMAL;
        for (start, len) in offsets {
            if rc != response::NORMAL {
                and_byte(block, start + 3, !BUFFER_ACCEPTED);
                continue;
            }
            let kind = block.get(start + 2).copied().unwrap_or(0);
            rc = if kind == EVENT_ASCII && self.config.vt220_console {
                if let Some(data) = block.get(start + EVENT_HEADER..start + len) {
                    self.console.extend_from_slice(data);
                }
                or_bytes(block, start + 3, &[BUFFER_ACCEPTED]);
                response::NORMAL
            } else if (kind == EVENT_MESSAGE || kind == EVENT_PRIORITY_MESSAGE_COMMAND)
                && self.config.line_mode_console
            {
                self.line_mode_message(block, start)
            } else if kind == EVENT_CONTROL_PROGRAM_ID && self.config.control_program_id {
                put(block, start + 3, &[BUFFER_ACCEPTED]);
                response::NORMAL
            } else {
                response::INVALID_FUNCTION
            };
        }
        rc
    }

    /// A line-mode message (QEMU sclplmconsole's `write_event_data`): the
    /// MDB after the event-buffer header holds objects; their lengths must
    /// be nonzero and fill the MDB exactly, else
    /// [`response::INCONSISTENT_LENGTHS`]. Each message-text object (type
    /// 4) prints a newline and then its EBCDIC text in ASCII; other objects
    /// are ignored. As in QEMU, the MDB's length is not checked against the
    /// event buffer's, but zmmu refuses objects running past the SCCB.
    fn line_mode_message(&mut self, block: &mut [u8], start: usize) -> u16 {
        let mdb = start + EVENT_HEADER;
        let Some(mdb_length) = u16_at(block, mdb) else {
            return response::INCONSISTENT_LENGTHS;
        };
        let Some(body) = usize::from(mdb_length).checked_sub(MDB_HEADER) else {
            return response::INCONSISTENT_LENGTHS;
        };
        let first = mdb + MDB_HEADER;
        let objects = |block: &[u8]| -> Result<Vec<(usize, usize)>, ()> {
            let mut found = Vec::new();
            let (mut at, mut left) = (first, body);
            while left > 0 {
                let len = usize::from(u16_at(block, at).ok_or(())?);
                if len == 0 || len > left || at + len > block.len() {
                    return Err(());
                }
                found.push((at, len));
                at += len;
                left -= len;
            }
            Ok(found)
        };
        let Ok(objects) = objects(block) else {
            return response::INCONSISTENT_LENGTHS;
        };
        for (at, len) in objects {
            if u16_at(block, at + 2) != Some(MESSAGE_TEXT) {
                continue;
            }
            self.console.push(b'\n');
            if let Some(text) = block.get(at + MTO_HEADER..at + len) {
                self.console
                    .extend(text.iter().map(|&c| EBCDIC_TO_ASCII[usize::from(c)]));
            }
        }
        put(block, start + 3, &[BUFFER_ACCEPTED]);
        response::NORMAL
    }

    /// Read event data (QEMU `read_event_data`): the SCCB must be exactly
    /// 4 KiB; function code 0 reads what the receive mask allows, 1 what
    /// the selection mask at byte 8 allows (taken in the last write event
    /// mask's length), which must be a nonempty subset of the receive mask
    /// ([`response::INVALID_SELECTION_MASK`]); other codes are invalid
    /// functions.
    fn read_event_data(&mut self, block: &mut [u8]) -> u16 {
        if block.len() != SCCB_SIZE {
            return response::INSUFFICIENT_LENGTH;
        }
        let mask = match block.get(2).copied() {
            Some(UNCONDITIONAL_READ) => self.receive_mask,
            Some(SELECTIVE_READ) => {
                let length = usize::from(self.mask_length()).min(8);
                let selection = block.get(8..8 + length).map_or(0, read_mask);
                if self.receive_mask == 0 || selection & !self.receive_mask != 0 {
                    return response::INVALID_SELECTION_MASK;
                }
                selection
            }
            _ => return response::INVALID_FUNCTION,
        };
        self.read_events(block, mask)
    }

    /// The mask length selective reads use: the last write event mask's,
    /// 4 before any (QEMU's initial value).
    fn mask_length(&self) -> u16 {
        if self.mask_length == 0 {
            4
        } else {
            self.mask_length
        }
    }

    /// QEMU `handle_sccb_read_events`: the first event buffer's length is
    /// cleared, then each event source the mask selects stores its pending
    /// event after the previous one, in QEMU's order (console, then signal
    /// quiesce); with the variable-length bit the SCCB length shrinks to
    /// what was stored and the bit is cleared.
    fn read_events(&mut self, block: &mut [u8], mask: u64) -> u16 {
        put_u16(block, HEADER, 0);
        let mut at = HEADER;
        let mut room = SCCB_SIZE - HEADER;
        let mut rc = response::NO_EVENT_BUFFERS;
        let console = if self.config.vt220_console && mask & event_mask(EVENT_ASCII) != 0 {
            self.read_vt220(block, at, room)
        } else if self.config.line_mode_console && mask & LINE_MODE_SEND_MASK != 0 {
            self.read_line_mode(block, at, room)
        } else {
            None
        };
        if let Some(len) = console {
            at += len;
            room -= len;
            rc = response::NORMAL;
        }
        if mask & event_mask(EVENT_SIGNAL_QUIESCE) != 0 {
            if let Some(len) = self.read_quiesce(block, at, room) {
                room -= len;
                rc = response::NORMAL;
            }
        }
        if let Some(control) = block.get_mut(5) {
            if *control & VARIABLE_LENGTH_RESPONSE != 0 {
                *control &= !VARIABLE_LENGTH_RESPONSE;
                put_u16(block, 0, (SCCB_SIZE - room) as u16);
            }
        }
        rc
    }

    /// The VT220 console's event (QEMU sclpconsole's `read_event_data`):
    /// a zero byte (ASCII data follows) and as much input as fits; the
    /// buffer is flagged accepted. Returns its length.
    fn read_vt220(&mut self, block: &mut [u8], at: usize, room: usize) -> Option<usize> {
        if self.input.is_empty() || room < EVENT_HEADER + 1 {
            return None;
        }
        let n = self.input.len().min(room - EVENT_HEADER - 1);
        let data: Vec<u8> = self.input.drain(..n).collect();
        let len = EVENT_HEADER + 1 + n;
        put_u16(block, at, len as u16);
        put(block, at + 2, &[EVENT_ASCII]);
        or_bytes(block, at + 3, &[BUFFER_ACCEPTED]);
        put(block, at + EVENT_HEADER, &[0]);
        put(block, at + EVENT_HEADER + 1, &data);
        Some(len)
    }

    /// The line-mode console's event (QEMU sclplmconsole's
    /// `read_event_data`): one input line (without its CR or LF, at most
    /// 4066 bytes) in EBCDIC as an operator command, inside an MDS message
    /// unit: vectors MDSMU (0x1310), CPMSU (0x1212), text command (0x1320),
    /// subvectors self-defining text message (0x31) and text message
    /// (0x30). The vector lengths are QEMU's on an s390x host (16, 12, 8,
    /// 4, 2 + text, the last truncated to a byte). Returns its length.
    fn read_line_mode(&mut self, block: &mut [u8], at: usize, room: usize) -> Option<usize> {
        let end = self.input.iter().position(|&b| b == b'\r' || b == b'\n')?;
        let avail = room.checked_sub(OPERATOR_COMMAND_HEADER)?;
        let line: Vec<u8> = self
            .input
            .drain(..=end)
            .take(end.min(LINE_MAX).min(avail))
            .map(|c| ASCII_TO_EBCDIC[usize::from(c)])
            .collect();
        let n = line.len();
        let len = OPERATOR_COMMAND_HEADER + n;
        put_u16(block, at, len as u16);
        put(block, at + 2, &[EVENT_OPERATOR_COMMAND]);
        let unit = at + EVENT_HEADER;
        put(block, unit, &[0, 16, 0x13, 0x10]);
        put(block, unit + 4, &[0, 12, 0x12, 0x12]);
        put(block, unit + 8, &[0, 8, 0x13, 0x20]);
        put(block, unit + 12, &[4, 0x31]);
        put(block, unit + 14, &[(2 + n) as u8, 0x30]);
        put(block, at + OPERATOR_COMMAND_HEADER, &line);
        Some(len)
    }

    /// The signal-quiesce event (QEMU sclpquiesce's `read_event_data`):
    /// 9 bytes, flagged accepted, timeout and unit 0, if it fits.
    fn read_quiesce(&mut self, block: &mut [u8], at: usize, room: usize) -> Option<usize> {
        if room < SIGNAL_QUIESCE_SIZE || !self.quiesce {
            return None;
        }
        self.quiesce = false;
        put_u16(block, at, SIGNAL_QUIESCE_SIZE as u16);
        put(block, at + 2, &[EVENT_SIGNAL_QUIESCE]);
        or_bytes(block, at + 3, &[BUFFER_ACCEPTED]);
        put(block, at + EVENT_HEADER, &[0, 0, 0]);
        Some(SIGNAL_QUIESCE_SIZE)
    }

    /// Whether the input holds a complete line (a CR or LF).
    fn has_line(&self) -> bool {
        self.input.iter().any(|&b| b == b'\r' || b == b'\n')
    }
}

/// The commands QEMU knows (`sclp_command_code_valid`).
fn is_command(code: u32) -> bool {
    matches!(
        code,
        command::READ_SCP_INFO
            | command::READ_SCP_INFO_FORCED
            | command::READ_CPU_INFO
            | command::CONFIGURE_IOA
            | command::DECONFIGURE_IOA
            | command::READ_EVENT_DATA
            | command::WRITE_EVENT_DATA
            | command::WRITE_EVENT_MASK
    )
}

/// The event buffers of a write-event-data SCCB as `(start, length)`
/// pairs, or an error when a length is below the event-buffer header or
/// runs past the SCCB (QEMU `write_event_length_check`).
fn event_buffers(block: &[u8]) -> Result<Vec<(usize, usize)>, ()> {
    let mut buffers = Vec::new();
    let mut at = HEADER;
    while at < block.len() {
        let len = usize::from(u16_at(block, at).ok_or(())?);
        if len < EVENT_HEADER || len > block.len() - at {
            return Err(());
        }
        buffers.push((at, len));
        at += len;
    }
    Ok(buffers)
}

/// A mask of up to 8 bytes, zero-extended on the right (QEMU `copy_mask`).
fn read_mask(bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .take(8)
        .enumerate()
        .fold(0u64, |v, (i, &b)| v | (u64::from(b) << (56 - 8 * i)))
}

/// Stores `mask` in `bytes`: its first 8 bytes, then zeros.
fn write_mask(bytes: &mut [u8], mask: u64) {
    for (i, b) in bytes.iter_mut().enumerate() {
        *b = if i < 8 {
            (mask >> (56 - 8 * i)) as u8
        } else {
            0
        };
    }
}

/// The big-endian halfword at `at`, if inside `block`.
fn u16_at(block: &[u8], at: usize) -> Option<u16> {
    let bytes = block.get(at..at.checked_add(2)?)?;
    Some(u16::from_be_bytes([bytes[0], bytes[1]]))
}

/// The bytes of `block` from `at` for `len` bytes, if inside it.
fn span(block: &mut [u8], at: usize, len: usize) -> Option<&mut [u8]> {
    block.get_mut(at..at.checked_add(len)?)
}

/// Stores `bytes` at `at` (nothing if they do not fit `block`).
fn put(block: &mut [u8], at: usize, bytes: &[u8]) {
    if let Some(dst) = span(block, at, bytes.len()) {
        dst.copy_from_slice(bytes);
    }
}

/// ORs `bytes` into `block` at `at` (nothing if they do not fit).
fn or_bytes(block: &mut [u8], at: usize, bytes: &[u8]) {
    if let Some(dst) = span(block, at, bytes.len()) {
        for (d, s) in dst.iter_mut().zip(bytes) {
            *d |= s;
        }
    }
}

/// ANDs `mask` into the byte at `at` (nothing if outside `block`).
fn and_byte(block: &mut [u8], at: usize, mask: u8) {
    if let Some(b) = block.get_mut(at) {
        *b &= mask;
    }
}

fn put_u16(block: &mut [u8], at: usize, value: u16) {
    put(block, at, &value.to_be_bytes());
}

fn put_u32(block: &mut [u8], at: usize, value: u32) {
    put(block, at, &value.to_be_bytes());
}

fn put_u64(block: &mut [u8], at: usize, value: u64) {
    put(block, at, &value.to_be_bytes());
}

/// ASCII to EBCDIC as QEMU converts line-mode input and the load parameter
/// (its `ascii2ebcdic` table, code page 037 for printable characters).
pub const ASCII_TO_EBCDIC: [u8; 256] = [
    0x00, 0x01, 0x02, 0x03, 0x37, 0x2D, 0x2E, 0x2F, 0x16, 0x05, 0x15, 0x0B, 0x0C, 0x0D, 0x0E, 0x0F,
    0x10, 0x11, 0x12, 0x13, 0x3C, 0x3D, 0x32, 0x26, 0x18, 0x19, 0x3F, 0x27, 0x22, 0x1D, 0x1E, 0x1F,
    0x40, 0x5A, 0x7F, 0x7B, 0x5B, 0x6C, 0x50, 0x7D, 0x4D, 0x5D, 0x5C, 0x4E, 0x6B, 0x60, 0x4B, 0x61,
    0xF0, 0xF1, 0xF2, 0xF3, 0xF4, 0xF5, 0xF6, 0xF7, 0xF8, 0xF9, 0x7A, 0x5E, 0x4C, 0x7E, 0x6E, 0x6F,
    0x7C, 0xC1, 0xC2, 0xC3, 0xC4, 0xC5, 0xC6, 0xC7, 0xC8, 0xC9, 0xD1, 0xD2, 0xD3, 0xD4, 0xD5, 0xD6,
    0xD7, 0xD8, 0xD9, 0xE2, 0xE3, 0xE4, 0xE5, 0xE6, 0xE7, 0xE8, 0xE9, 0xBA, 0xE0, 0xBB, 0xB0, 0x6D,
    0x79, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x91, 0x92, 0x93, 0x94, 0x95, 0x96,
    0x97, 0x98, 0x99, 0xA2, 0xA3, 0xA4, 0xA5, 0xA6, 0xA7, 0xA8, 0xA9, 0xC0, 0x4F, 0xD0, 0xA1, 0x07,
    0x3F, 0x3F, 0x3F, 0x3F, 0x3F, 0x3F, 0x3F, 0x3F, 0x3F, 0x3F, 0x3F, 0x3F, 0x3F, 0x3F, 0x3F, 0x3F,
    0x3F, 0x3F, 0x3F, 0x3F, 0x3F, 0x3F, 0x3F, 0x3F, 0x3F, 0x3F, 0x3F, 0x3F, 0x3F, 0x3F, 0x3F, 0x3F,
    0x3F, 0x3F, 0x3F, 0x3F, 0x3F, 0x3F, 0x3F, 0x3F, 0x3F, 0x3F, 0x3F, 0x3F, 0x3F, 0x3F, 0x3F, 0x3F,
    0x3F, 0x3F, 0x3F, 0x3F, 0x3F, 0x3F, 0x3F, 0x3F, 0x3F, 0x3F, 0x3F, 0x3F, 0x3F, 0x3F, 0x3F, 0x3F,
    0x3F, 0x3F, 0x3F, 0x3F, 0x3F, 0x3F, 0x3F, 0x3F, 0x3F, 0x3F, 0x3F, 0x3F, 0x3F, 0x3F, 0x3F, 0x3F,
    0x3F, 0x3F, 0x3F, 0x3F, 0x3F, 0x3F, 0x3F, 0x3F, 0x3F, 0x3F, 0x3F, 0x3F, 0x3F, 0x3F, 0x3F, 0x3F,
    0x3F, 0x59, 0x3F, 0x3F, 0x3F, 0x3F, 0x3F, 0x3F, 0x3F, 0x3F, 0x3F, 0x3F, 0x3F, 0x3F, 0x3F, 0x3F,
    0x3F, 0x3F, 0x3F, 0x3F, 0x3F, 0x3F, 0x3F, 0x3F, 0x90, 0x3F, 0x3F, 0x3F, 0x3F, 0xEA, 0x3F, 0xFF,
];

/// EBCDIC to ASCII as QEMU converts line-mode output (its `ebcdic2ascii`
/// table).
pub const EBCDIC_TO_ASCII: [u8; 256] = [
    0x00, 0x01, 0x02, 0x03, 0x07, 0x09, 0x07, 0x7F, 0x07, 0x07, 0x07, 0x0B, 0x0C, 0x0D, 0x0E, 0x0F,
    0x10, 0x11, 0x12, 0x13, 0x07, 0x0A, 0x08, 0x07, 0x18, 0x19, 0x07, 0x07, 0x07, 0x07, 0x07, 0x07,
    0x07, 0x07, 0x1C, 0x07, 0x07, 0x0A, 0x17, 0x1B, 0x07, 0x07, 0x07, 0x07, 0x07, 0x05, 0x06, 0x07,
    0x07, 0x07, 0x16, 0x07, 0x07, 0x07, 0x07, 0x04, 0x07, 0x07, 0x07, 0x07, 0x14, 0x15, 0x07, 0x1A,
    0x20, 0xFF, 0x83, 0x84, 0x85, 0xA0, 0x07, 0x86, 0x87, 0xA4, 0x5B, 0x2E, 0x3C, 0x28, 0x2B, 0x21,
    0x26, 0x82, 0x88, 0x89, 0x8A, 0xA1, 0x8C, 0x07, 0x8D, 0xE1, 0x5D, 0x24, 0x2A, 0x29, 0x3B, 0x5E,
    0x2D, 0x2F, 0x07, 0x8E, 0x07, 0x07, 0x07, 0x8F, 0x80, 0xA5, 0x07, 0x2C, 0x25, 0x5F, 0x3E, 0x3F,
    0x07, 0x90, 0x07, 0x07, 0x07, 0x07, 0x07, 0x07, 0x70, 0x60, 0x3A, 0x23, 0x40, 0x27, 0x3D, 0x22,
    0x07, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0xAE, 0xAF, 0x07, 0x07, 0x07, 0xF1,
    0xF8, 0x6A, 0x6B, 0x6C, 0x6D, 0x6E, 0x6F, 0x70, 0x71, 0x72, 0xA6, 0xA7, 0x91, 0x07, 0x92, 0x07,
    0xE6, 0x7E, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7A, 0xAD, 0xAB, 0x07, 0x07, 0x07, 0x07,
    0x9B, 0x9C, 0x9D, 0xFA, 0x07, 0x07, 0x07, 0xAC, 0xAB, 0x07, 0xAA, 0x7C, 0x07, 0x07, 0x07, 0x07,
    0x7B, 0x41, 0x42, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49, 0x07, 0x93, 0x94, 0x95, 0xA2, 0x07,
    0x7D, 0x4A, 0x4B, 0x4C, 0x4D, 0x4E, 0x4F, 0x50, 0x51, 0x52, 0x07, 0x96, 0x81, 0x97, 0xA3, 0x98,
    0x5C, 0xF6, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5A, 0xFD, 0x07, 0x99, 0x07, 0x07, 0x07,
    0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x07, 0x07, 0x9A, 0x07, 0x07, 0x07,
];
