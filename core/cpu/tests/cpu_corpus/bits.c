/* Shifts, rotates, bit fields, population counts. */
typedef unsigned long u64; typedef long i64; typedef unsigned u32; typedef int i32;
u64 shl(u64 a, int n) { return a << n; } u64 shr(u64 a, int n) { return a >> n; } i64 sar(i64 a, int n) { return a >> n; }
u32 shl32(u32 a, int n) { return a << n; } u32 shr32(u32 a, int n) { return a >> n; } i32 sar32(i32 a, int n) { return a >> n; }
u64 rotl(u64 a, int n) { return (a << (n & 63)) | (a >> (-n & 63)); }
u32 rotl32(u32 a, int n) { return (a << (n & 31)) | (a >> (-n & 31)); }
u64 field(u64 a) { return (a >> 12) & 0xfff; }
u64 insert(u64 a, u64 b) { return (a & ~0xff00ULL) | ((b << 8) & 0xff00); }
u32 insert32(u32 a, u32 b) { return (a & ~0x3f0u) | ((b << 4) & 0x3f0); }
struct bf { unsigned a : 3, b : 7, c : 12; int d : 5; unsigned long e : 33; };
u64 getbf(struct bf *p) { return p->a + p->b + p->c + p->d + p->e; }
void setbf(struct bf *p, u64 v) { p->b = v; p->d = v >> 3; p->e = v; }
int clz(u64 a) { return __builtin_clzl(a); } int ctz(u64 a) { return __builtin_ctzl(a); }
int pop(u64 a) { return __builtin_popcountl(a); } int pop32(u32 a) { return __builtin_popcount(a); }
int parity(u64 a) { return __builtin_parityl(a); }
u64 bswap(u64 a) { return __builtin_bswap64(a); } u32 bswap32(u32 a) { return __builtin_bswap32(a); }
u64 ldrev(const u64 *p) { return __builtin_bswap64(*p); } void strev(u32 *p, u32 v) { *p = __builtin_bswap32(v); }
unsigned short bswap16(unsigned short a) { return __builtin_bswap16(a); }
int test_bit(u64 a) { return (a & 0x800) != 0; } int test_bits(u32 a) { return (a & 0x30000) == 0x30000; }
int tm_mem(const unsigned char *p) { return (*p & 0x81) ? 3 : 4; }
void set_flag(unsigned char *p) { *p |= 4; *p &= ~1; p[1] ^= 0x10; }
u64 mask_low(u64 a, int n) { return a & ((1ULL << n) - 1); }
i64 sxt(u64 a) { return (i64)(a << 20) >> 40; }
u64 combine(u32 hi, u32 lo) { return (u64)hi << 32 | lo; }
u64 dblshift(u64 a, u64 b) { return (a << 13) | (b >> 51); }
u64 rnsbg(u64 a, u64 b) { return a & (b << 3 | 0xffffffffffff000fULL); }
u64 rosbg(u64 a, u64 b) { return a | ((b >> 7) & 0xff0); }
u64 rxsbg(u64 a, u64 b) { return a ^ ((b << 9) & 0xff000); }
