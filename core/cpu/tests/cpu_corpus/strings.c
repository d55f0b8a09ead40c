/* Freestanding string and memory routines. */
typedef unsigned long size_t;
void *memcpy(void *d, const void *s, size_t n) { char *dd = d; const char *ss = s; while (n--) *dd++ = *ss++; return d; }
void *memset(void *d, int c, size_t n) { unsigned char *p = d; while (n--) *p++ = (unsigned char)c; return d; }
int memcmp(const void *a, const void *b, size_t n) { const unsigned char *x = a, *y = b; for (; n; n--, x++, y++) if (*x != *y) return *x - *y; return 0; }
size_t strlen(const char *s) { const char *p = s; while (*p) p++; return p - s; }
char *strcpy(char *d, const char *s) { char *r = d; while ((*d++ = *s++)) ; return r; }
int strcmp(const char *a, const char *b) { while (*a && *a == *b) { a++; b++; } return (unsigned char)*a - (unsigned char)*b; }
char *strchr(const char *s, int c) { for (; *s; s++) if (*s == (char)c) return (char *)s; return c ? 0 : (char *)s; }
struct big { char b[40]; };
void copy_big(struct big *d, const struct big *s) { *d = *s; }
void clear_big(struct big *d) { __builtin_memset(d, 0, sizeof *d); }
int cmp_big(const struct big *a, const struct big *b) { return __builtin_memcmp(a, b, sizeof *a) == 0; }
void copy_var(char *d, const char *s, size_t n) { __builtin_memcpy(d, s, n); }
void move_var(char *d, const char *s, size_t n) { __builtin_memmove(d, s, n); }
int upper(char *s) { int n = 0; for (; *s; s++) if (*s >= 'a' && *s <= 'z') { *s -= 32; n++; } return n; }
unsigned hash(const char *s) { unsigned h = 5381; while (*s) h = h * 33 ^ (unsigned char)*s++; return h; }
