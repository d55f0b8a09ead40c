/* Calls the corpus functions with pseudo-random inputs and writes every
 * result to stdout: run under qemu-s390x and under the interpreter, the two
 * outputs must be identical. Freestanding: its own _start, stack, write and
 * exit system calls. */
typedef unsigned long u64; typedef long i64; typedef unsigned u32; typedef int i32;
typedef unsigned long size_t;

/* The externals the corpus calls. */
int ext(int x) { return x * 3 + 1; }
long extl(long a, long b) { return a - 2 * b; }
void use(char *p) { p[100] = p[0]; p[4999] = 7; }
long gl[200000];
void *memmove(void *d, const void *s, size_t n) {
  char *dd = d; const char *ss = s;
  if (dd < ss) while (n--) *dd++ = *ss++;
  else { dd += n; ss += n; while (n--) *--dd = *--ss; }
  return d;
}
/* libatomic's 16-byte compare and swap, for cas128 (one CPU: no lock needed). */
_Bool __atomic_compare_exchange_16(volatile void *p, void *e, unsigned __int128 d, _Bool w, int s, int f) {
  volatile unsigned __int128 *q = p; unsigned __int128 *x = e;
  (void)w; (void)s; (void)f;
  if (*q == *x) { *q = d; return 1; }
  *x = *q; return 0;
}

/* strings.c */
void *memcpy(void *, const void *, size_t); void *memset(void *, int, size_t);
int memcmp(const void *, const void *, size_t); size_t strlen(const char *);
char *strcpy(char *, const char *); int strcmp(const char *, const char *);
char *strchr(const char *, int); int upper(char *); unsigned hash(const char *);
struct big { char b[40]; };
void copy_big(struct big *, const struct big *); void clear_big(struct big *);
int cmp_big(const struct big *, const struct big *);
void copy_var(char *, const char *, size_t); void move_var(char *, const char *, size_t);
/* arith.c */
i64 add64(i64, i64); i32 add32(i32, i32); u64 addc(u64, u64, u64, u64, u64 *);
u64 subb(u64, u64, u64, u64, u64 *); i64 mul64(i64, i64); i32 mul32(i32, i32);
u64 mulhi(u64, u64); i64 smulhi(i64, i64); u32 mulhi32(u32, u32);
i64 div64(i64, i64); i64 mod64(i64, i64); u64 udiv64(u64, u64); u64 umod64(u64, u64);
i32 div32(i32, i32); u32 udiv32(u32, u32); i32 mod32(i32, i32); u32 umod32(u32, u32);
i32 div7(i32); u64 udiv10(u64); i64 neg(i64); i32 abs32(i32); i64 abs64(i64); i64 nabs64(i64);
u64 logical(u64, u64); u64 imm(u64); u64 imm2(u64); u32 imm3(u32); u64 big_const(void);
i64 addmem(i64, const i64 *); i32 addmem32(i32, const i32 *); i64 addmem16(i64, const short *);
int sat(int, int); long satl(long, long); unsigned uadd_ovf(unsigned, unsigned);
unsigned long usub_ovf(unsigned long, unsigned long);
void stfar(u64 *, u64); u64 ldfar(u64 *);
/* bits.c */
u64 shl(u64, int); u64 shr(u64, int); i64 sar(i64, int); u32 shl32(u32, int); u32 shr32(u32, int);
i32 sar32(i32, int); u64 rotl(u64, int); u32 rotl32(u32, int); u64 field(u64); u64 insert(u64, u64);
u32 insert32(u32, u32); int clz(u64); int ctz(u64); int pop(u64); int pop32(u32); int parity(u64);
u64 bswap(u64); u32 bswap32(u32); u64 ldrev(const u64 *); void strev(u32 *, u32);
int test_bit(u64); int test_bits(u32); int tm_mem(const unsigned char *); void set_flag(unsigned char *);
u64 mask_low(u64, int); i64 sxt(u64); u64 combine(u32, u32); u64 dblshift(u64, u64);
u64 rnsbg(u64, u64); u64 rosbg(u64, u64); u64 rxsbg(u64, u64);
struct bf { unsigned a : 3, b : 7, c : 12; int d : 5; unsigned long e : 33; };
u64 getbf(struct bf *); void setbf(struct bf *, u64);
/* control.c */
int cmp_branch(int, int); int cmp_imm(long); int sel(int, int, int); long sel64(long, long, long);
int sel_imm(int); long sel_imm64(long, long); int sel_mem(int, int *); void store_cond(int, int *);
int sw(int); long loop_sum(const long *, long); int loop_count(const int *); int loop_down(int);
long rec(long); long calls(long, long); int fp(int (*)(int), int); int bool_ops(int, int, int);
int ucmp(unsigned, unsigned); int ucmp64(unsigned long, unsigned long);
int cmp_mem(long, const long *, const int *, const short *); int cmp_byte(const unsigned char *);
int cmp_mem_imm(const int *, const long *, const short *); int get_counter(void); void bump(void);
int cmp_global(int); long tail(long);
/* misc.c */
long atomic_add(long *, long); int atomic_add32(int *, int); long atomic_and(long *, long);
int atomic_or(int *, int); int atomic_xor(int *, int); int cas(int *, int, int); long casl(long *, long, long);
int xchg(int *, int); unsigned char xchg8(unsigned char *, unsigned char);
__int128 cas128(__int128 *, __int128, __int128); unsigned __int128 mul128(unsigned __int128, unsigned __int128);
__int128 shl128(__int128, int); long frame(long); long many(long, long, long, long, long, long, long);
void spill(long *); int table_lookup(int); long global_addr(void); void zero_big(long *);
void set_bytes(char *); void copy_arr(long *, const long *); int sum_shorts(const unsigned short *, int);

/* vector.c */
void vec_bytes(const void *, const void *, void *); void vec_halves(const void *, const void *, void *);
void vec_words(const void *, const void *, void *); void vec_doubles(const void *, const void *, void *);
void vec_shuffle(const void *, const void *, void *); u64 vec_extract(const void *, int);
void add_arrays(int *, const int *, const int *); unsigned sum_bytes(const unsigned char *);
int max_arr(const int *); void widen(long *, const int *); void narrow(short *, const int *);
void scale(unsigned short *, const unsigned char *); void xor_arr(u64 *, const u64 *);
int count_eq(const unsigned char *, unsigned char);
void fp_arrays(double *, const long *, const long *); long fp_truncate(const double *);

static u64 seed = 88172645463325252UL;
static u64 rnd(void) { seed ^= seed << 13; seed ^= seed >> 7; seed ^= seed << 17; return seed; }
static unsigned char out[1 << 20];
static unsigned long outn;
static void put(u64 v) { for (int i = 0; i < 8; i++) out[outn++] = v >> (56 - 8 * i); }

static void sys_write(const void *p, unsigned long n) {
  register long r2 asm("r2") = 1; register const void *r3 asm("r3") = p; register unsigned long r4 asm("r4") = n;
  asm volatile("svc 4" : "+d"(r2) : "d"(r3), "d"(r4) : "memory");
}

static long mem[4096];
static char str[256], str2[256];

void driver(void) {
  for (int it = 0; it < 100 && outn < sizeof out - 4096; it++) {
    u64 a = rnd(), b = rnd(), c = rnd(), d = rnd(), hi;
    int s = rnd() % 64;
    for (int i = 0; i < 4096; i++) mem[i] = rnd();
    put(add64(a, b)); put(add32(a, b)); put(addc(a, b, c, d, &hi)); put(hi); put(subb(a, b, c, d, &hi)); put(hi);
    put(mul64(a, b)); put(mul32(a, b)); put(mulhi(a, b)); put(smulhi(a, b)); put(mulhi32(a, b));
    put(div64(a, (b | 1) & 0x7fffffffffffffff)); put(mod64(a, (b | 1) & 0xffff)); put(udiv64(a, b | 1)); put(umod64(a, b | 1));
    put(div32(a, (b | 1) & 0x7fff)); put(udiv32(a, b | 1)); put(mod32(a, (b | 1) & 0x7fff)); put(umod32(a, b | 1));
    put(div7(a)); put(udiv10(a)); put(neg(a)); put(abs32(a)); put(abs64(a)); put(nabs64(a));
    put(logical(a, b)); put(imm(a)); put(imm2(a)); put(imm3(a)); put(big_const());
    put(addmem(a, mem)); put(addmem32(a, (int *)mem)); put(addmem16(a, (short *)mem));
    put(sat(a, b)); put(satl(a, b)); put(uadd_ovf(a, b)); put(usub_ovf(a, b));
    put(shl(a, s)); put(shr(a, s)); put(sar(a, s)); put(shl32(a, s & 31)); put(shr32(a, s & 31)); put(sar32(a, s & 31));
    put(rotl(a, s)); put(rotl32(a, s)); put(field(a)); put(insert(a, b)); put(insert32(a, b));
    put(clz(a | 1)); put(ctz(a | 1ul << 63)); put(pop(a)); put(pop32(a)); put(parity(a));
    put(bswap(a)); put(bswap32(a)); put(ldrev((u64 *)mem)); strev((u32 *)mem, a); put(mem[0]);
    put(test_bit(a)); put(test_bits(a)); put(tm_mem((unsigned char *)mem)); set_flag((unsigned char *)mem); put(mem[0]);
    put(mask_low(a, s)); put(sxt(a)); put(combine(a, b)); put(dblshift(a, b)); put(rnsbg(a, b)); put(rosbg(a, b)); put(rxsbg(a, b));
    struct bf f; setbf(&f, a); put(getbf(&f));
    put(cmp_branch(a, b)); put(cmp_branch(5, b)); put(cmp_imm(a % 300 - 150)); put(sel(a, b, c)); put(sel64(a, b, c));
    put(sel_imm(a % 8)); put(sel_imm64(a % 3, b % 3)); put(sel_mem(a, (int *)mem)); store_cond(a, (int *)mem); put(mem[0]);
    put(sw(a % 9)); put(loop_sum(mem, s)); put(loop_count((int *)mem)); put(loop_down((a % 50) + 1)); put(rec(a % 15));
    put(calls(a, b)); put(fp(ext, a)); put(bool_ops(a, b, c)); put(ucmp(a, b)); put(ucmp64(a, b));
    put(cmp_mem(a, mem, (int *)mem, (short *)mem)); put(cmp_byte((unsigned char *)mem)); put(cmp_mem_imm((int *)mem, mem, (short *)mem));
    bump(); put(get_counter()); put(cmp_global(a % 10)); put(tail(a));
    put(atomic_add(mem, a)); put(atomic_add32((int *)mem, a)); put(atomic_and(mem, a)); put(atomic_or((int *)mem, a));
    put(atomic_xor((int *)mem, a)); put(cas((int *)mem, a, b)); put(cas((int *)mem, *(int *)mem, b)); put(casl(mem, a, b));
    put(xchg((int *)mem, a)); put(xchg8((unsigned char *)mem, a)); put(mem[0]);
    __int128 x = cas128((__int128 *)mem, a, b); put(x); put(x >> 64);
    unsigned __int128 y = mul128(((unsigned __int128)a << 64) | b, ((unsigned __int128)c << 64) | d); put(y); put(y >> 64);
    x = shl128(((__int128)a << 64) | b, s); put(x); put(x >> 64);
    put(frame(a)); put(many(a, b, c, d, a, b, c)); spill(mem); put(mem[3]); put(mem[11]);
    put(table_lookup(a)); put(global_addr()); zero_big(mem); put(mem[63]); set_bytes((char *)mem); put(mem[5]);
    copy_arr(mem + 200, mem + 1000); put(mem[250]); put(sum_shorts((unsigned short *)mem, s));
    for (int i = 0; i < 255; i++) str[i] = 'a' + (rnd() % 26);
    str[rnd() % 255] = 0;
    put(strlen(str)); strcpy(str2, str); put(strcmp(str, str2)); str2[3] ^= 1; put(strcmp(str, str2));
    put(strchr(str, 'q') ? strchr(str, 'q') - str : -1); put(upper(str2)); put(hash(str));
    put(memcmp(str, str2, 200)); memcpy(str2, str, 77); memset(str2 + 5, 'x', 9); put(hash(str2));
    struct big g1, g2; copy_var(g1.b, str, 40); copy_big(&g2, &g1); put(cmp_big(&g1, &g2)); clear_big(&g2); put(cmp_big(&g1, &g2));
    move_var(str + 3, str, 100); put(hash(str));
    stfar((u64 *)gl + 2000, a); put(ldfar((u64 *)gl + 2000));
    u64 vr[32];
    void (*vops[])(const void *, const void *, void *) = {vec_bytes, vec_halves, vec_words, vec_doubles};
    vops[it % 4](mem + 7, mem + 9, vr); for (int i = 0; i < 32; i++) put(vr[i]);
    vec_shuffle(mem + 3, mem + 5, vr); for (int i = 0; i < 8; i++) put(vr[i]);
    put(vec_extract(mem + 11, s));
    add_arrays((int *)(mem + 300), (int *)(mem + 400), (int *)(mem + 500)); put(mem[300]); put(mem[331]);
    put(sum_bytes((unsigned char *)mem)); put(max_arr((int *)mem));
    widen(mem + 600, (int *)(mem + 700)); put(mem[600]); put(mem[663]);
    narrow((short *)(mem + 800), (int *)(mem + 900)); put(mem[800]); put(mem[815]);
    scale((unsigned short *)(mem + 1000), (unsigned char *)(mem + 1100)); put(mem[1000]); put(mem[1031]);
    xor_arr((u64 *)mem + 1200, (u64 *)mem + 1300); put(mem[1200]); put(mem[1231]);
    put(count_eq((unsigned char *)mem, a));
    fp_arrays((double *)mem + 1400, (long *)mem + 1500, (long *)mem + 1600);
    put(mem[1400]); put(mem[1431]); put(fp_truncate((double *)mem + 1400));
  }
  sys_write(out, outn);
}

asm(".globl _start\n"
    "_start:\n"
    "\tlarl %r15,stack_top\n"
    "\taghi %r15,-160\n"
    "\tbrasl %r14,driver\n"
    "\tlghi %r2,0\n"
    "\tsvc 1\n"
    "\t.section .bss\n"
    "\t.balign 8\n"
    "\t.skip 262144\n"
    "stack_top:\n"
    "\t.text\n");
