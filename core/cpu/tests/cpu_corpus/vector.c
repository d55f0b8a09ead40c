/* GCC's generic vector types (vector instructions with the vector
 * registers, scalar code with -mno-vx) and loops its vectorizer turns into
 * vector code at -O2. */
typedef unsigned long u64;
typedef unsigned char v16qu __attribute__((vector_size(16)));
typedef signed char v16qi __attribute__((vector_size(16)));
typedef unsigned short v8hu __attribute__((vector_size(16)));
typedef short v8hi __attribute__((vector_size(16)));
typedef unsigned v4su __attribute__((vector_size(16)));
typedef int v4si __attribute__((vector_size(16)));
typedef unsigned long v2du __attribute__((vector_size(16)));
typedef long v2di __attribute__((vector_size(16)));

#define LOAD(T, p) ({ T v_; __builtin_memcpy(&v_, (p), 16); v_; })
#define OPS(NAME, U, S, SHIFT)                                                  \
  void NAME(const void *a, const void *b, U *r) {                              \
    U x = LOAD(U, a), y = LOAD(U, b);                                          \
    S sx = (S)x, sy = (S)y;                                                    \
    U gt = (U)(x > y), lt = (U)(sx < sy);                                      \
    r[0] = x + y; r[1] = x - y; r[2] = x * y; r[3] = lt; r[4] = (x & gt) | (y & ~gt); \
    r[5] = x >> (y & SHIFT); r[6] = x << (y & SHIFT); r[7] = (U)(sx >> (sy & SHIFT)); \
    r[8] = ~(x | y); r[9] = x & ~y; r[10] = x ^ y; r[11] = (U)(x == y);       \
    r[12] = (U)((sx & (S)lt) | (sy & ~(S)lt)); r[13] = -x; r[14] = x >> 3; r[15] = (U)(sx >> 1); \
  }
OPS(vec_bytes, v16qu, v16qi, 7)
OPS(vec_halves, v8hu, v8hi, 15)
OPS(vec_words, v4su, v4si, 31)
OPS(vec_doubles, v2du, v2di, 63)

void vec_shuffle(const void *a, const void *b, v16qu *r) {
  v16qu x = LOAD(v16qu, a), y = LOAD(v16qu, b);
  r[0] = __builtin_shuffle(x, y, y & 31);
  r[1] = __builtin_shuffle(x, (v16qu){15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0});
  v4su w = LOAD(v4su, a);
  r[2] = (v16qu)__builtin_shuffle(w, (v4su){0, 0, 0, 0});
  v2du d = LOAD(v2du, a), e = LOAD(v2du, b);
  r[3] = (v16qu)__builtin_shuffle(d, e, (v2du){1, 2});
}

u64 vec_extract(const void *a, int i) {
  v4su w = LOAD(v4su, a);
  v8hu h = LOAD(v8hu, a);
  v4su v = w;
  v[i & 3] = 77;
  return w[i & 3] + h[(i >> 2) & 7] + v[0] + v[3];
}

void add_arrays(int *restrict a, const int *restrict b, const int *restrict c) {
  for (int i = 0; i < 64; i++) a[i] = b[i] + c[i] * 3;
}
unsigned sum_bytes(const unsigned char *p) { unsigned s = 0; for (int i = 0; i < 256; i++) s += p[i]; return s; }
int max_arr(const int *p) { int m = p[0]; for (int i = 0; i < 64; i++) m = p[i] > m ? p[i] : m; return m; }
void widen(long *restrict d, const int *restrict s) { for (int i = 0; i < 64; i++) d[i] = s[i]; }
void narrow(short *restrict d, const int *restrict s) { for (int i = 0; i < 64; i++) d[i] = (short)s[i]; }
void scale(unsigned short *restrict d, const unsigned char *restrict s) { for (int i = 0; i < 128; i++) d[i] = s[i] * 5u; }
void xor_arr(u64 *restrict d, const u64 *restrict s) { for (int i = 0; i < 32; i++) d[i] ^= s[i] >> 3; }
int count_eq(const unsigned char *p, unsigned char c) { int n = 0; for (int i = 0; i < 256; i++) n += p[i] == c; return n; }
/* Vector floating point (vector registers) or BFP (-mno-vx): integers to
 * long BFP, arithmetic (no multiply followed by an add, which GCC may
 * contract in one form and not in the other), and back, truncated. */
void fp_arrays(double *restrict d, const long *restrict a, const long *restrict b) {
  for (int i = 0; i < 32; i++) { double x = a[i] >> 12, y = b[i] >> 20; d[i] = (x - y) / (y + 0.5) - x / 3.0; }
}
long fp_truncate(const double *d) { long s = 0; for (int i = 0; i < 32; i++) s += (long)d[i]; return s; }
