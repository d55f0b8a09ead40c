/* Structs, atomics, 128-bit values, bigger frames, volatile accesses. */
typedef unsigned long u64;
struct s { char c; short h; int i; long l; char name[13]; };
long sum_struct(struct s *p) { return p->c + p->h + p->i + p->l + p->name[3]; }
void fill(struct s *p, long v) { p->c = v; p->h = v; p->i = v; p->l = v; p->name[0] = 0; }
struct s make(long v) { struct s r = { 1, 2, 3, v, "abc" }; return r; }
long atomic_add(long *p, long v) { return __atomic_fetch_add(p, v, __ATOMIC_SEQ_CST); }
int atomic_add32(int *p, int v) { return __atomic_fetch_add(p, v, __ATOMIC_SEQ_CST); }
long atomic_and(long *p, long v) { return __atomic_fetch_and(p, v, __ATOMIC_SEQ_CST); }
int atomic_or(int *p, int v) { return __atomic_fetch_or(p, v, __ATOMIC_SEQ_CST); }
int atomic_xor(int *p, int v) { return __atomic_fetch_xor(p, v, __ATOMIC_SEQ_CST); }
int cas(int *p, int o, int n) { return __atomic_compare_exchange_n(p, &o, n, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST); }
long casl(long *p, long o, long n) { __atomic_compare_exchange_n(p, &o, n, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST); return o; }
int xchg(int *p, int v) { return __atomic_exchange_n(p, v, __ATOMIC_SEQ_CST); }
unsigned char xchg8(unsigned char *p, unsigned char v) { return __atomic_exchange_n(p, v, __ATOMIC_SEQ_CST); }
__int128 cas128(__int128 *p, __int128 o, __int128 n) { __atomic_compare_exchange_n(p, &o, n, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST); return o; }
unsigned __int128 mul128(unsigned __int128 a, unsigned __int128 b) { return a * b; }
__int128 shl128(__int128 a, int n) { return a << n; }
extern void use(char *);
long frame(long a) { char buf[5000]; buf[0] = a; buf[4000] = a; use(buf); return buf[100] + buf[4999]; }
long many(long a, long b, long c, long d, long e, long f, long g) { return a + b * c - d / (e | 1) + f * g; }
void vol(volatile int *p) { *p = 1; *p = *p + 1; }
void barrier(void) { __atomic_thread_fence(__ATOMIC_SEQ_CST); }
void spill(long *p) { long a = p[0], b = p[1], c = p[2], d = p[3], e = p[4], f = p[5], g = p[6], h = p[7], i = p[8], j = p[9], k = p[10], l = p[11];
  for (int n = 0; n < 10; n++) { a += b; b ^= c; c += d; d -= e; e += f; f *= g; g += h; h ^= i; i += j; j -= k; k += l; l ^= a; }
  p[0] = a; p[1] = b; p[2] = c; p[3] = d; p[4] = e; p[5] = f; p[6] = g; p[7] = h; p[8] = i; p[9] = j; p[10] = k; p[11] = l; }
int table_lookup(int i) { static const int t[] = { 3, 1, 4, 1, 5, 9, 2, 6 }; return t[i & 7]; }
const char *msg(void) { return "hello"; }
long global_addr(void) { extern long gl[]; return gl[5] + gl[100000]; }
void zero_big(long *p) { for (int i = 0; i < 64; i++) p[i] = 0; }
void set_bytes(char *p) { for (int i = 0; i < 300; i++) p[i] = 1; }
void copy_arr(long *d, const long *s) { for (int i = 0; i < 100; i++) d[i] = s[i]; }
int sum_shorts(const unsigned short *p, int n) { int s = 0; for (int i = 0; i < n; i++) s += p[i]; return s; }
