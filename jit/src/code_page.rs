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
        for (word, bits) in words(first, last) {
            self.bytes[word] |= bits;
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
        words(first, last).any(|(word, bits)| self.bytes[word] & bits != 0)
    }
}

/// The bits of frame offsets `first..last` (at most 4096), word by word:
/// (word, its bits among them).
fn words(first: usize, last: usize) -> impl Iterator<Item = (usize, u64)> {
    let range = if first < last {
        first / 64..last.div_ceil(64)
    } else {
        0..0
    };
    range.map(move |word| {
        // 0 <= lo < hi <= 64: each word holds one byte of the range at least.
        let lo = first.max(word * 64) - word * 64;
        let hi = last.min(word * 64 + 64) - word * 64;
        let bits = (u64::MAX >> (64 - (hi - lo))) << lo;
        (word, bits)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bytes marked, one by one.
    fn marked(page: &CodePage) -> Vec<usize> {
        (0..0x1000)
            .filter(|&i| page.bytes[i / 64] & (1 << (i % 64)) != 0)
            .collect()
    }

    #[test]
    fn a_block_marks_exactly_its_bytes() {
        for (start, end) in [
            (0, 1),
            (5, 64),
            (63, 65),
            (64, 128),
            (10, 300),
            (0xffe, 0x1004),
        ] {
            let mut page = CodePage::default();
            page.add(1, 0x7000 + start, 0x7000 + end);
            let expected: Vec<usize> = (start as usize..(end as usize).min(0x1000)).collect();
            assert_eq!(marked(&page), expected, "{start:#x}..{end:#x}");
        }
    }

    #[test]
    fn overlaps_only_the_marked_bytes() {
        let mut page = CodePage::default();
        page.add(1, 0x7000 + 100, 0x7000 + 200);
        assert!(page.overlaps(0x7000 + 199, 0x7000 + 300));
        assert!(page.overlaps(0x7000, 0x7000 + 101));
        assert!(!page.overlaps(0x7000 + 200, 0x7000 + 0x1000));
        assert!(!page.overlaps(0x7000, 0x7000 + 100));
        assert!(!page.overlaps(0x7000 + 150, 0x7000 + 150), "empty");
        assert_eq!(page.granules(), 0b1110);
    }
}
