/* A byte-wise checksum: Adler-32 (RFC 1950; the sums reduced modulo 65521
   every 5552 bytes, as zlib does) over a 1 MiB (times SCALE) buffer,
   eight times. Every step is a byte load and two adds. */
#include "rt.h"

#define SIZE ((1UL << 20) * SCALE)
static u8 buf[SIZE] __attribute__((aligned(4096)));

static u32 adler32(u32 adler, const u8 *p, u64 n)
{
    u32 a = adler & 0xffff, b = adler >> 16;
    while (n) {
        u64 k = n < 5552 ? n : 5552;
        n -= k;
        while (k--) {
            a += *p++;
            b += a;
        }
        a %= 65521;
        b %= 65521;
    }
    return b << 16 | a;
}

int main(void)
{
    for (u64 i = 0; i < SIZE; i++)
        buf[i] = (u8)(i * 13 + (i >> 9));
    u32 sum = 1;
    for (int round = 0; round < 8; round++)
        sum = adler32(sum, buf, SIZE);
    /* Adler-32 of "Wikipedia" is 0x11e60398 (RFC 1950's example word). */
    u32 check = adler32(1, (const u8 *)"Wikipedia", 9);
    rt_printf("adler32 %08x, check %08x\n", sum, check);
    return check == 0x11e60398 ? 0 : 1;
}
