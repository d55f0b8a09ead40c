/* Integer arithmetic of every width and sign. */
typedef unsigned long u64; typedef long i64; typedef unsigned u32; typedef int i32;
typedef unsigned short u16; typedef short i16; typedef unsigned char u8; typedef signed char i8;
i64 add64(i64 a, i64 b) { return a + b; }
i32 add32(i32 a, i32 b) { return a + b; }
u64 addc(u64 a, u64 b, u64 c, u64 d, u64 *hi) { unsigned __int128 x = ((unsigned __int128)a << 64 | b) + ((unsigned __int128)c << 64 | d); *hi = x >> 64; return (u64)x; }
u64 subb(u64 a, u64 b, u64 c, u64 d, u64 *hi) { unsigned __int128 x = ((unsigned __int128)a << 64 | b) - ((unsigned __int128)c << 64 | d); *hi = x >> 64; return (u64)x; }
i64 mul64(i64 a, i64 b) { return a * b; }
i32 mul32(i32 a, i32 b) { return a * b; }
u64 mulhi(u64 a, u64 b) { return ((unsigned __int128)a * b) >> 64; }
i64 smulhi(i64 a, i64 b) { return ((__int128)a * b) >> 64; }
u32 mulhi32(u32 a, u32 b) { return ((u64)a * b) >> 32; }
i64 div64(i64 a, i64 b) { return a / b; }
i64 mod64(i64 a, i64 b) { return a % b; }
u64 udiv64(u64 a, u64 b) { return a / b; }
u64 umod64(u64 a, u64 b) { return a % b; }
i32 div32(i32 a, i32 b) { return a / b; }
u32 udiv32(u32 a, u32 b) { return a / b; }
i32 mod32(i32 a, i32 b) { return a % b; }
u32 umod32(u32 a, u32 b) { return a % b; }
i32 div7(i32 a) { return a / 7; }
u64 udiv10(u64 a) { return a / 10; }
i64 neg(i64 a) { return -a; }
i32 abs32(i32 a) { return a < 0 ? -a : a; }
i64 abs64(i64 a) { return a < 0 ? -a : a; }
i64 nabs64(i64 a) { return a < 0 ? a : -a; }
i64 sext8(i8 a) { return a; } i64 sext16(i16 a) { return a; } i64 sext32(i32 a) { return a; }
u64 zext8(u8 a) { return a; } u64 zext16(u16 a) { return a; } u64 zext32(u32 a) { return a; }
i32 ld8(const i8 *p) { return *p; } u32 ldu8(const u8 *p) { return *p; }
i32 ld16(const i16 *p) { return *p; } u32 ldu16(const u16 *p) { return *p; }
i64 ld32(const i32 *p) { return *p; } u64 ldu32(const u32 *p) { return *p; }
i64 ldg8(const i8 *p, long i) { return p[i]; } i64 ldg16(const i16 *p, long i) { return p[i]; }
void st8(u8 *p, u64 v) { *p = v; } void st16(u16 *p, u64 v) { *p = v; } void st32(u32 *p, u64 v) { *p = v; } void st64(u64 *p, u64 v) { *p = v; }
void stfar(u64 *p, u64 v) { p[70000] = v; ((u32 *)p)[-1000] = v; ((u16 *)p)[3000] = v; ((u8 *)p)[5000] = v; }
u64 ldfar(u64 *p) { return p[70000] + ((u32 *)p)[-1000] + ((i16 *)p)[3000] + ((u8 *)p)[5000]; }
i64 addmem(i64 a, const i64 *p) { return a + *p + p[1000]; }
i32 addmem32(i32 a, const i32 *p) { return a + *p - p[3] + (p[1000] & a) + (p[2] | a) + (p[9] ^ a); }
i64 addmem16(i64 a, const i16 *p) { return a + *p + p[1] * 3; }
u64 logical(u64 a, u64 b) { return (a & b) ^ (a | ~b); }
u64 imm(u64 a) { return (a & 0xffff0000ffffULL) | 0x12345678000ULL; }
u64 imm2(u64 a) { return (a ^ 0xffffffff00000000ULL) + 0x123456789ULL; }
u32 imm3(u32 a) { return (a & 0xff00ff) | 0x7000; }
u64 big_const(void) { return 0x123456789abcdef0ULL; }
i32 inc_mem(i32 *p) { return ++*p; } void add_mem(long *p) { *p += 5; } void add_mem32(int *p) { *p -= 3; }
int sat(int a, int b) { int r; if (__builtin_add_overflow(a, b, &r)) return 0x7fffffff; return r; }
long satl(long a, long b) { long r; if (__builtin_mul_overflow(a, b, &r)) return 0; return r; }
unsigned uadd_ovf(unsigned a, unsigned b) { unsigned r; return __builtin_add_overflow(a, b, &r) ? 0 : r; }
unsigned long usub_ovf(unsigned long a, unsigned long b) { unsigned long r; return __builtin_sub_overflow(a, b, &r) ? 1 : r; }
