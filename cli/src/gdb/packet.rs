//! Framing of the gdb remote protocol in front of gdbstub: a packet
//! (`$data#cc`) reaches gdbstub only whole, within the packet buffer and
//! with a correct checksum. Anything else is answered with a NAK (`-`, the
//! protocol's "send it again") and dropped, so that malformed input is a
//! protocol error, never the end of the session or of the guest. Bytes
//! outside packets (`+`, `-`, the interrupt byte 0x03) pass through.

/// What one received byte amounts to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Framed {
    /// Nothing yet (inside a packet).
    Pending,
    /// Bytes for gdbstub: a whole packet, or one byte outside packets.
    Pass(Vec<u8>),
    /// A malformed or oversized packet: answer `-`.
    Reject,
    /// A well-formed packet gdbstub must not be given (see [`refused`]):
    /// answer `E01`.
    Refuse,
}

/// The framing state between packets and inside one.
#[derive(Debug)]
pub struct Framer {
    limit: usize,
    packet: Vec<u8>,
    inside: bool,
    /// Checksum digits still to come after `#`.
    tail: Option<u8>,
    overflow: bool,
}

impl Framer {
    /// A framer passing packets of at most `limit` bytes (gdbstub's packet
    /// buffer).
    pub fn new(limit: usize) -> Self {
        Self {
            limit,
            packet: Vec::new(),
            inside: false,
            tail: None,
            overflow: false,
        }
    }

    /// Takes one byte from the connection.
    pub fn push(&mut self, byte: u8) -> Framed {
        if !self.inside {
            if byte == b'$' {
                self.inside = true;
                self.overflow = false;
                self.tail = None;
                self.packet.clear();
                self.packet.push(byte);
                return Framed::Pending;
            }
            return Framed::Pass(vec![byte]);
        }
        if self.packet.len() < self.limit {
            self.packet.push(byte);
        } else {
            self.overflow = true;
        }
        match self.tail {
            None if byte == b'#' => self.tail = Some(2),
            None => {}
            Some(n) => self.tail = Some(n - 1),
        }
        if self.tail != Some(0) {
            return Framed::Pending;
        }
        self.inside = false;
        let packet = std::mem::take(&mut self.packet);
        if self.overflow || !checksum_ok(&packet) {
            Framed::Reject
        } else if refused(&packet, self.limit) {
            Framed::Refuse
        } else {
            Framed::Pass(packet)
        }
    }
}

/// Packets gdbstub would answer badly: a memory read longer than a reply
/// can hold (gdbstub would stream it, at any length), a register write
/// (`G`) not holding exactly every register (gdbstub ends the session).
pub fn refused(packet: &[u8], limit: usize) -> bool {
    let body = packet
        .get(1..packet.len().saturating_sub(3))
        .unwrap_or_default();
    match body.first() {
        Some(b'm') => {
            let len = body.split(|&b| b == b',').nth(1).and_then(|len| {
                let len = std::str::from_utf8(len).ok()?;
                u64::from_str_radix(len, 16).ok()
            });
            len.is_some_and(|len| len > (limit / 2) as u64)
        }
        Some(b'G') => body.len() - 1 != 2 * super::arch::G_PACKET_BYTES,
        _ => false,
    }
}

/// `body` as a packet: `$body#cc`.
pub fn frame(body: &[u8]) -> Vec<u8> {
    let sum = body.iter().fold(0u8, |a, &b| a.wrapping_add(b));
    let mut packet = Vec::with_capacity(body.len() + 4);
    packet.push(b'$');
    packet.extend_from_slice(body);
    packet.extend_from_slice(format!("#{sum:02x}").as_bytes());
    packet
}

/// Whether `$body#cc` carries the checksum of its body (the sum of its
/// bytes modulo 256, two hexadecimal digits).
fn checksum_ok(packet: &[u8]) -> bool {
    let Some(hash) = packet.iter().rposition(|&b| b == b'#') else {
        return false;
    };
    let (Some(body), Some(digits)) = (packet.get(1..hash), packet.get(hash + 1..)) else {
        return false;
    };
    let sum = body.iter().fold(0u8, |a, &b| a.wrapping_add(b));
    std::str::from_utf8(digits)
        .ok()
        .and_then(|d| u8::from_str_radix(d, 16).ok())
        == Some(sum)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(framer: &mut Framer, bytes: &[u8]) -> Vec<Framed> {
        bytes
            .iter()
            .map(|&b| framer.push(b))
            .filter(|f| *f != Framed::Pending)
            .collect()
    }

    #[test]
    fn a_whole_packet_with_its_checksum_passes() {
        let mut f = Framer::new(64);
        assert_eq!(
            feed(&mut f, b"+$g#67"),
            [Framed::Pass(b"+".to_vec()), Framed::Pass(b"$g#67".to_vec())]
        );
    }

    #[test]
    fn a_wrong_checksum_is_refused_and_the_next_packet_passes() {
        let mut f = Framer::new(64);
        assert_eq!(feed(&mut f, b"$g#00"), [Framed::Reject]);
        assert_eq!(feed(&mut f, b"$g#zz"), [Framed::Reject]);
        assert_eq!(feed(&mut f, b"$g#67"), [Framed::Pass(b"$g#67".to_vec())]);
    }

    #[test]
    fn reads_longer_than_a_reply_and_partial_register_writes_are_refused() {
        let mut f = Framer::new(64);
        assert_eq!(feed(&mut f, &frame(b"m0,21")), [Framed::Refuse]);
        assert_eq!(
            feed(&mut f, &frame(b"m0,20")),
            [Framed::Pass(frame(b"m0,20"))]
        );
        assert_eq!(feed(&mut f, &frame(b"G00")), [Framed::Refuse]);
    }

    #[test]
    fn a_packet_longer_than_the_buffer_is_refused_whole() {
        let mut f = Framer::new(8);
        let mut long = b"$m0,".to_vec();
        long.extend(std::iter::repeat_n(b'1', 100));
        long.extend(b"#00");
        assert_eq!(feed(&mut f, &long), [Framed::Reject]);
        assert_eq!(feed(&mut f, &[3]), [Framed::Pass(vec![3])]);
    }
}
