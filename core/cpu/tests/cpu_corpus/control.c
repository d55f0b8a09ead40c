/* Control flow: compares, branches, switches, loops, calls, conditional moves. */
typedef unsigned long u64; typedef long i64;
extern int ext(int); extern long extl(long, long);
int cmp_branch(int a, int b) { if (a < b) return ext(a); if (a == 5) return ext(b); return a; }
int cmp_imm(long a) { if (a > 100) return 1; if (a < -5) return 2; if ((unsigned long)a <= 7) return 3; return 4; }
int sel(int a, int b, int c) { return a > b ? c : b; }
long sel64(long a, long b, long c) { return a > b ? c : b; }
int sel_imm(int a) { return a > 3 ? 17 : -2; }
long sel_imm64(long a, long b) { return a != b ? 100 : 1; }
int sel_mem(int a, int *p) { return a > 0 ? *p : a; }
void store_cond(int a, int *p) { if (a > 0) *p = a; }
int sw(int x) { switch (x) { case 0: return ext(1); case 1: return ext(7); case 2: return ext(3); case 3: return 9; case 4: return ext(44); case 5: return 12; case 6: return ext(-1); default: return 0; } }
long loop_sum(const long *p, long n) { long s = 0; for (long i = 0; i < n; i++) s += p[i]; return s; }
int loop_count(const int *p) { int n = 0; for (int i = 0; i < 100; i++) n += p[i] > 0; return n; }
int loop_down(int n) { int s = 0; do { s += n * 3; } while (--n); return s; }
long rec(long n) { return n < 2 ? n : rec(n - 1) + rec(n - 2); }
long calls(long a, long b) { return extl(a, b) + extl(b, a) * 3; }
int fp(int (*f)(int), int x) { return f(x) + f(x + 1); }
int bool_ops(int a, int b, int c) { return (a < b) + (b >= c) * 2 + (a == c) * 4; }
int ucmp(unsigned a, unsigned b) { return a < b ? -1 : a > b; }
int ucmp64(unsigned long a, unsigned long b) { return a < b ? -1 : a > b; }
int cmp_mem(long a, const long *p, const int *q, const short *r) { return (a < *p) + (a == *q) + (a > *r); }
int cmp_byte(const unsigned char *p) { return *p == 'x' ? 1 : *p < 'a' ? 2 : 3; }
int cmp_mem_imm(const int *p, const long *q, const short *r) { return (*p == 7) + (*q < 100) * 2 + (*r != 3) * 4; }
static int counter; static long lcounter; static short scounter;
int get_counter(void) { return counter + lcounter + scounter; }
void bump(void) { counter++; lcounter += 2; scounter = 3; }
int cmp_global(int a) { return a < counter ? 1 : lcounter > a ? 2 : scounter == a; }
long tail(long a) { return extl(a, 3); }
void trap(long a) { if (a == 0) __builtin_trap(); }
