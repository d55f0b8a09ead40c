/* Storage keys and the instructions that expose translation: SSKE sets a
   key, ISKE reads it, references and changes record R and C, RRBE resets R
   and reports R and C in the condition code; TPROT tells what a page
   permits; LRAG answers the real address.

   Not compared, because QEMU 7.2 differs from the architecture: key-
   controlled protection (QEMU records R and C but never refuses by key),
   and R and C before the first key instruction (QEMU enables storage keys
   on the first SSKE, ISKE or RRBE with every key zero, so an ISKE of a
   frame already written answers 00 on QEMU and 06 on zmmu). So the first
   key instruction here is an SSKE. */
#include "rt.h"

#define VA 0x10000000UL

static u64 iske(u64 real)
{
    u64 key = 0;
    __asm__ volatile("iske %0,%1" : "+d"(key) : "a"(real) : "memory");
    return key & 0xff;
}

static void sske(u64 real, u64 key)
{
    __asm__ volatile("sske %0,%1" :: "d"(key), "a"(real) : "memory");
}

static int rrbe(u64 real)
{
    int cc;
    __asm__ volatile("rrbe 0,%1\n\tipm %0\n\tsrl %0,28" : "=d"(cc) : "a"(real) : "cc", "memory");
    return cc;
}

static int tprot(u64 va)
{
    int cc;
    __asm__ volatile("tprot 0(%1),0\n\tipm %0\n\tsrl %0,28" : "=d"(cc) : "a"(va) : "cc", "memory");
    return cc;
}

static int lrag(u64 va, u64 *real)
{
    int cc;
    __asm__ volatile("lrag %0,0(%2)\n\tipm %1\n\tsrl %1,28"
                     : "=d"(*real), "=d"(cc) : "a"(va) : "cc");
    return cc;
}

int main(void)
{
    u64 f = rt_frame();
    rt_map(rt_primary, VA, f, 0);
    rt_map(rt_primary, VA + PAGE_SIZE, rt_frame(), PTE_PROTECT);

    sske(f, 0x30);
    rt_printf("after SSKE 30:   key %02lx\n", iske(f));
    u64 v = *(volatile u64 *)VA;
    rt_printf("after a fetch:   key %02lx\n", iske(f));
    rt_printf("RRBE cc %d,      key %02lx\n", rrbe(f), iske(f));
    *(volatile u64 *)VA = v + 1;
    rt_printf("after a store:   key %02lx\n", iske(f));
    rt_printf("RRBE cc %d,      key %02lx\n", rrbe(f), iske(f));
    rt_printf("RRBE cc %d,      key %02lx\n", rrbe(f), iske(f));
    sske(f, 0x00);
    rt_printf("after SSKE 00:   key %02lx\n", iske(f));

    rt_printf("TPROT mapped %d, DAT-protected %d, unmapped %d\n",
              tprot(VA), tprot(VA + PAGE_SIZE), tprot(VA + 2 * PAGE_SIZE));
    u64 real = 0;
    int cc = lrag(VA + 0x123, &real);
    rt_printf("LRAG cc %d, %s\n", cc, real == f + 0x123 ? "the mapped frame" : "WRONG");
    return 0;
}
