/* Moving data between address spaces: MVCS stores into the secondary space
   from the primary, MVCP fetches from the secondary into the primary. The
   primary and secondary map the same virtual page to different frames. */
#include "rt.h"

#define VA 0x10000000UL

/* MVCS: first operand in the secondary space, second in the primary. */
static int mvcs(void *to_secondary, const void *from_primary, u64 len)
{
    int cc;
    __asm__ volatile("mvcs 0(%1,%2),0(%3),%4\n\tipm %0\n\tsrl %0,28"
                     : "=d"(cc) : "d"(len), "a"(to_secondary), "a"(from_primary), "d"(0UL)
                     : "cc", "memory");
    return cc;
}

/* MVCP: first operand in the primary space, second in the secondary. */
static int mvcp(void *to_primary, const void *from_secondary, u64 len)
{
    int cc;
    __asm__ volatile("mvcp 0(%1,%2),0(%3),%4\n\tipm %0\n\tsrl %0,28"
                     : "=d"(cc) : "d"(len), "a"(to_primary), "a"(from_secondary), "d"(0UL)
                     : "cc", "memory");
    return cc;
}

int main(void)
{
    u64 a = rt_primary, b = rt_space_new();
    u64 fa = rt_frame(), fb = rt_frame();
    rt_map(a, VA, fa, 0);
    rt_map(b, VA, fb, 0);
    LCTLG(7, b);
    LCTLG(0, STCTG(0) | 0x04000000UL);  /* secondary-space control */

    static char msg[] = "through MVCS and back with MVCP";
    static char back[64];
    int c1 = mvcs((void *)(VA + 100), msg, sizeof(msg));
    int c2 = mvcp(back, (void *)(VA + 100), sizeof(msg));
    rt_printf("mvcs cc %d, mvcp cc %d: \"%s\"\n", c1, c2, back);
    rt_printf("secondary frame holds it: %s\n",
              memcmp((void *)(fb + 100), msg, sizeof(msg)) ? "NO" : "yes");
    rt_printf("primary page untouched: %s\n",
              memcmp((void *)(VA + 100), msg, sizeof(msg)) ? "yes" : "NO");
    return c1 == 0 && c2 == 0 && !memcmp(back, msg, sizeof(msg)) ? 0 : 1;
}
