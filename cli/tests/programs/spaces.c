/* Two address spaces: the primary (CR1) and a secondary (CR7) map the same
   virtual pages to different frames. Secondary-space mode (SACF 256) makes
   operand accesses use CR7. (QEMU 7.2 has SACF but not SAC, so SACF it
   is.) */
#include "rt.h"

#define VA 0x10000000UL
#define PAGES 16

static u64 lrag(u64 va)
{
    u64 r;
    int cc;
    __asm__ volatile("lrag %0,0(%2)\n\tipm %1\n\tsrl %1,28"
                     : "=d"(r), "=d"(cc) : "a"(va) : "cc");
    return cc ? ~0UL : r;
}

/* Store and load in secondary-space mode, then back to primary. */
static u64 secondary_swap(u64 *p, u64 v)
{
    u64 old;
    __asm__ volatile("sacf 256\n\t"
                     "lg %0,0(%1)\n\t"
                     "stg %2,0(%1)\n\t"
                     "sacf 0"
                     : "=&d"(old) : "a"(p), "d"(v) : "memory");
    return old;
}

int main(void)
{
    u64 a = rt_primary, b = rt_space_new();
    u64 fa[PAGES], fb[PAGES];
    for (int i = 0; i < PAGES; i++) {
        fa[i] = rt_frame();
        fb[i] = rt_frame();
        rt_map(a, VA + i * PAGE_SIZE, fa[i], 0);
        rt_map(b, VA + i * PAGE_SIZE, fb[i], 0);
    }
    LCTLG(7, b);
    LCTLG(0, STCTG(0) | 0x04000000UL);  /* secondary-space control */

    u64 *p = (u64 *)VA;
    for (int i = 0; i < PAGES; i++)
        p[i * 512] = 0xaaaa0000 + i;        /* primary */
    u64 seen = 0;
    for (int i = 0; i < PAGES; i++)
        seen += secondary_swap(&p[i * 512], 0xbbbb0000 + i);
    rt_printf("secondary saw %lx before its stores (expect 0)\n", seen);
    u64 prim = 0, sec = 0;
    for (int i = 0; i < PAGES; i++) {
        prim += p[i * 512];
        sec += *(u64 *)fb[i];               /* the frame, through the identity map */
    }
    rt_printf("primary sum %lx, secondary frames sum %lx\n", prim, sec);
    rt_printf("lrag %lx -> %s frame\n", VA,
              lrag(VA) == fa[0] ? "the primary" : "the WRONG");

    return sec - prim == 0x11110000UL * PAGES ? 0 : 1;
}
