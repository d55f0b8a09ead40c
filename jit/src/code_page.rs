//! A frame that holds translated code: the blocks with bytes in it and a
//! bitmap of those bytes, so that a store into the frame is checked
//! against the code in constant time.

/// One frame's blocks and code bytes.
#[derive(Clone, Debug)]
pub(crate) struct CodePage {
    /// The blocks with bytes in the frame.
    pub(crate) blocks: Vec<usize>,
    /// Bit `i` of word `i / 64`: byte `i` of the frame belongs to a block.
    bytes: [u64; 64],
}

impl Default for CodePage {
    fn default() -> Self {
        Self {
            blocks: Vec::new(),
            bytes: [0; 64],
        }
    }
}

/// The byte offsets `start..end` (absolute, within one frame; `end` may be
/// the next frame's first byte) as offsets in the frame.
fn offsets(start: u64, end: u64) -> (usize, usize) {
    let first = (start & 0xfff) as usize;
    (
        first,
        first + (end - start).min(0x1000 - first as u64) as usize,
    )
}

impl CodePage {
    /// Adds block `id` with bytes `start..end` (a block that crosses into
    /// the next page may come twice in a row, when both pages map to this
    /// frame).
    pub(crate) fn add(&mut self, id: usize, start: u64, end: u64) {
        if self.blocks.last() != Some(&id) {
            self.blocks.push(id);
        }
        self.mark(start, end);
    }

    fn mark(&mut self, start: u64, end: u64) {
        let (first, last) = offsets(start, end);
        for i in first..last {
            self.bytes[i / 64] |= 1 << (i % 64);
        }
    }

    /// Forgets every code byte, then marks the bytes of the blocks still in
    /// frame `page` (`ranges` gives a block's absolute byte ranges, of which
    /// those in this frame count).
    pub(crate) fn rebuild(&mut self, page: u64, ranges: impl Fn(usize) -> [Option<(u64, u64)>; 2]) {
        self.bytes = [0; 64];
        for i in 0..self.blocks.len() {
            for (start, end) in ranges(self.blocks[i]).into_iter().flatten() {
                if start & !0xfff == page {
                    self.mark(start, end);
                }
            }
        }
    }

    /// The frame's word of the code map ([`zmmu_translator::abi::CTX_CODE_MAP`]):
    /// bit `g` set when a block has bytes in the 64-byte granule `g`.
    pub(crate) fn granules(&self) -> u64 {
        (0..64)
            .filter(|&g| self.bytes[g] != 0)
            .fold(0, |w, g| w | 1 << g)
    }

    /// Whether a block has bytes in `start..end` (absolute, within the
    /// frame).
    pub(crate) fn overlaps(&self, start: u64, end: u64) -> bool {
        let (first, last) = offsets(start, end);
        (first..last).any(|i| self.bytes[i / 64] & (1 << (i % 64)) != 0)
    }
}
