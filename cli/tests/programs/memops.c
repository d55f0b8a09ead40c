/* memcpy and memset over 1 MiB (times SCALE) buffers: MVC in 256-byte blocks, doubleword
   stores, byte loops at odd alignments, and MVCLE. */
#include "rt.h"

#define SIZE ((1UL << 20) * SCALE)
static u8 src[SIZE] __attribute__((aligned(4096)));
static u8 dst[SIZE] __attribute__((aligned(4096)));

static u64 checksum(const u8 *p, u64 n)
{
    u64 h = 1469598103934665603UL;
    const u64 *w = (const u64 *)p;
    for (u64 i = 0; i < n / 8; i++)
        h = (h ^ w[i]) * 1099511628211UL;
    return h;
}

static void mvcle(void *d, u64 dn, const void *s, u64 sn, u8 pad)
{
    register u64 r2 __asm__("r2") = (u64)d;
    register u64 r3 __asm__("r3") = dn;
    register u64 r4 __asm__("r4") = (u64)s;
    register u64 r5 __asm__("r5") = sn;
    __asm__ volatile("0: mvcle %0,%2,0(%4)\n\tjo 0b"
                     : "+d"(r2), "+d"(r3), "+d"(r4), "+d"(r5)
                     : "a"((u64)pad) : "cc", "memory");
}

int main(void)
{
    for (u64 i = 0; i < SIZE; i++)
        src[i] = (u8)(i * 7 + (i >> 12));
    u64 hs = checksum(src, SIZE);
    for (int round = 0; round < 2; round++) {
        memset(dst, round, SIZE);
        memcpy(dst, src, SIZE);
    }
    u64 h1 = checksum(dst, SIZE);
    memcpy(dst + 3, src + 1, SIZE - 8);      /* odd alignments */
    u64 h2 = checksum(dst, SIZE);
    memset(dst + 5, 0xa5, SIZE - 16);
    u64 h3 = checksum(dst, SIZE);
    mvcle(dst, SIZE, src, SIZE / 2, 0x5a);   /* copy half, pad the rest */
    u64 h4 = checksum(dst, SIZE);
    rt_printf("source %016lx\n", hs);
    rt_printf("copy   %016lx (%s)\n", h1, h1 == hs ? "matches" : "DIFFERS");
    rt_printf("odd    %016lx\n", h2);
    rt_printf("set    %016lx\n", h3);
    rt_printf("mvcle  %016lx pad %02x\n", h4, dst[SIZE - 1]);
    return h1 == hs ? 0 : 1;
}
