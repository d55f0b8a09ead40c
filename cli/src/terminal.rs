//! The host terminal as the guest's console, as QEMU's `-nographic`
//! stdio: while the guest runs, a terminal on standard input is in raw
//! mode (no echo, no line editing, no signals from Ctrl-C: every key goes
//! to the guest; output processing stays on), and its settings are
//! restored on every way out: a normal end, a panic, SIGTERM, SIGHUP and
//! SIGQUIT, and the escape key.
//!
//! Keys are read on a thread of their own and handed to the run loop
//! through [`Keyboard::take`]. Ctrl-A is the escape key, as QEMU's: Ctrl-A
//! x leaves zmmu (status 0, as QEMU), Ctrl-A Ctrl-A types one Ctrl-A,
//! Ctrl-A h lists these. Standard input that is not a terminal (a pipe, a
//! file) is read the same way, without raw mode.

use std::io::Read;
use std::sync::mpsc::{channel, Receiver};
use std::sync::OnceLock;

/// The escape key: Ctrl-A.
pub const ESCAPE: u8 = 0x01;

/// The terminal settings to restore, saved when raw mode was entered.
static SAVED: OnceLock<libc::termios> = OnceLock::new();

/// Raw mode on the terminal of standard input, restored when dropped.
#[derive(Debug)]
pub struct RawMode {
    _private: (),
}

impl RawMode {
    /// Puts standard input's terminal into raw mode; `None` when standard
    /// input is not a terminal (nothing to change).
    pub fn enter() -> Option<Self> {
        // SAFETY: isatty only inspects the descriptor.
        if unsafe { libc::isatty(libc::STDIN_FILENO) } != 1 {
            return None;
        }
        // SAFETY: termios is plain old data; all-zero is a valid value
        // for tcgetattr to overwrite.
        let mut saved: libc::termios = unsafe { std::mem::zeroed() };
        // SAFETY: `saved` is a valid termios to write into.
        if unsafe { libc::tcgetattr(libc::STDIN_FILENO, &mut saved) } != 0 {
            return None;
        }
        let _ = SAVED.set(saved);
        install_restorers();
        let mut raw = saved;
        raw.c_iflag &= !(libc::IGNBRK | libc::BRKINT | libc::PARMRK | libc::ISTRIP | libc::INLCR);
        raw.c_iflag &= !(libc::IGNCR | libc::ICRNL | libc::IXON);
        raw.c_oflag |= libc::OPOST;
        raw.c_lflag &= !(libc::ECHO | libc::ECHONL | libc::ICANON | libc::IEXTEN | libc::ISIG);
        raw.c_cflag &= !(libc::CSIZE | libc::PARENB);
        raw.c_cflag |= libc::CS8;
        raw.c_cc[libc::VMIN] = 1;
        raw.c_cc[libc::VTIME] = 0;
        // SAFETY: `raw` is a valid termios derived from the current one.
        unsafe { libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &raw) };
        Some(Self { _private: () })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        restore();
    }
}

/// Restores the saved terminal settings, if raw mode was entered
/// (async-signal-safe: tcsetattr only).
pub(crate) fn restore() {
    if let Some(saved) = SAVED.get() {
        // SAFETY: `saved` is the termios tcgetattr filled in.
        unsafe { libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, saved) };
    }
}

/// A signal that ends zmmu: restore the terminal, then die of the signal
/// as the default action would.
extern "C" fn restore_and_reraise(signal: libc::c_int) {
    restore();
    // SAFETY: resetting the disposition and re-raising are
    // async-signal-safe; the default action ends the process.
    unsafe {
        libc::signal(signal, libc::SIG_DFL);
        libc::raise(signal);
    }
}

/// The panic hook and the signal handlers that restore the terminal.
fn install_restorers() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore();
        previous(info);
    }));
    for signal in [libc::SIGTERM, libc::SIGHUP, libc::SIGQUIT] {
        let handler = restore_and_reraise as extern "C" fn(libc::c_int);
        // SAFETY: the handler only calls async-signal-safe functions.
        unsafe { libc::signal(signal, handler as libc::sighandler_t) };
    }
}

/// What one key means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// A byte for the guest.
    Guest(u8),
    /// Ctrl-A x: leave zmmu.
    Leave,
    /// Ctrl-A h: list the escape keys.
    Help,
    /// Nothing (Ctrl-A itself, or an unknown key after it).
    Nothing,
}

/// The escape-key state: whether the last key was Ctrl-A.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Escape {
    pending: bool,
}

impl Escape {
    /// What `key` means after the keys before it.
    pub fn feed(&mut self, key: u8) -> Action {
        if !self.pending {
            if key == ESCAPE {
                self.pending = true;
                return Action::Nothing;
            }
            return Action::Guest(key);
        }
        self.pending = false;
        match key {
            b'x' | b'X' => Action::Leave,
            ESCAPE => Action::Guest(ESCAPE),
            b'h' | b'H' | b'?' => Action::Help,
            _ => Action::Nothing,
        }
    }
}

/// Keys from standard input for the guest, read on their own thread.
#[derive(Debug)]
pub struct Keyboard {
    keys: Receiver<Vec<u8>>,
    /// Bytes read but not yet taken by the guest's console.
    pending: Vec<u8>,
}

impl Keyboard {
    /// Starts reading standard input.
    pub fn start() -> Self {
        let (send, keys) = channel();
        std::thread::spawn(move || {
            let mut stdin = std::io::stdin().lock();
            let mut buf = [0u8; 256];
            let mut escape = Escape::default();
            loop {
                let n = match stdin.read(&mut buf) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                };
                let mut guest = Vec::with_capacity(n);
                for &key in &buf[..n] {
                    match escape.feed(key) {
                        Action::Guest(b) => guest.push(b),
                        Action::Leave => leave(),
                        Action::Help => say(
                            "\r\nC-a x    leave zmmu\r\nC-a C-a  type C-a\r\nC-a h    this help\r\n",
                        ),
                        Action::Nothing => {}
                    }
                }
                if !guest.is_empty() && send.send(guest).is_err() {
                    return;
                }
            }
        });
        Self {
            keys,
            pending: Vec::new(),
        }
    }

    /// The keys typed so far and not yet taken.
    pub fn pending(&mut self) -> &[u8] {
        while let Ok(bytes) = self.keys.try_recv() {
            self.pending.extend_from_slice(&bytes);
        }
        &self.pending
    }

    /// The guest's console took the first `n` pending bytes.
    pub fn take(&mut self, n: usize) {
        self.pending.drain(..n.min(self.pending.len()));
    }
}

/// Ctrl-A x: restore the terminal and end zmmu with status 0, as QEMU.
/// (The console output is already flushed: the run loop flushes every
/// write.)
fn leave() -> ! {
    restore();
    say("\r\nzmmu: terminated by C-a x\r\n");
    std::process::exit(0);
}

/// Writes `text` to standard error directly: the run loop holds the locks
/// of the standard streams while the guest runs.
fn say(text: &str) {
    // SAFETY: the pointer and length describe `text`'s bytes.
    let _ = unsafe { libc::write(libc::STDERR_FILENO, text.as_ptr().cast(), text.len()) };
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(bytes: &[u8]) -> Vec<Action> {
        let mut escape = Escape::default();
        bytes.iter().map(|&b| escape.feed(b)).collect()
    }

    #[test]
    fn keys_go_to_the_guest_until_ctrl_a() {
        assert_eq!(
            keys(b"ls\r"),
            [
                Action::Guest(b'l'),
                Action::Guest(b's'),
                Action::Guest(b'\r')
            ]
        );
    }

    #[test]
    fn ctrl_a_x_leaves_and_ctrl_a_ctrl_a_types_one_ctrl_a() {
        assert_eq!(keys(b"\x01x"), [Action::Nothing, Action::Leave]);
        assert_eq!(
            keys(b"\x01\x01a"),
            [Action::Nothing, Action::Guest(ESCAPE), Action::Guest(b'a')]
        );
        assert_eq!(keys(b"\x01h"), [Action::Nothing, Action::Help]);
    }

    #[test]
    fn an_unknown_key_after_ctrl_a_is_dropped() {
        assert_eq!(
            keys(b"\x01qx"),
            [Action::Nothing, Action::Nothing, Action::Guest(b'x')]
        );
    }
}
