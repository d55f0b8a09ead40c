//! What zmmu's tests share: [`Rng`], a seeded random source (a test that
//! fails names its seed and runs again the same), and, with the `streams`
//! feature, `streams`: random s390x programs under random DAT tables, on
//! which every engine is compared with the interpreter, and `hostile`: a
//! CPU from a fuzzer's bytes.

#[cfg(feature = "streams")]
pub mod hostile;
#[cfg(feature = "streams")]
pub mod streams;

/// The number in the environment variable `name`, or `default` where it
/// is unset or not a number (a test's size or seed, chosen from outside).
pub fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// xorshift64*: small, seedable, and enough for test inputs; a seeded
/// driver needs no dependency.
#[derive(Debug, Clone)]
pub struct Rng(pub u64);

impl Rng {
    /// A source from any seed (zero included: the state is never zero).
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    /// The next 64 random bits.
    pub fn bits(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.bits() % n
        }
    }

    /// A number in `lo..=hi`.
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below((hi - lo + 1) as u64) as i64
    }

    /// True `percent` times in a hundred.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    /// One of `items` (which must not be empty).
    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::Rng;

    #[test]
    fn the_same_seed_gives_the_same_numbers_and_a_zero_seed_is_not_stuck() {
        let (mut a, mut b) = (Rng::new(7), Rng::new(7));
        let xs: Vec<u64> = (0..8).map(|_| a.bits()).collect();
        assert_eq!(xs, (0..8).map(|_| b.bits()).collect::<Vec<_>>());
        let mut zero = Rng::new(0);
        assert_ne!(zero.bits(), zero.bits());
    }

    #[test]
    fn below_and_range_stay_in_their_bounds() {
        let mut rng = Rng::new(1);
        for _ in 0..1000 {
            assert!(rng.below(7) < 7);
            assert!((-3..=3).contains(&rng.range(-3, 3)));
        }
        assert_eq!(rng.below(0), 0);
    }
}
