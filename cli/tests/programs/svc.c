/* Supervisor calls through the lowcore: the SVC number and ILC stored at
   0x8a and 0x89, the old PSW at 0x140 pointing past the SVC, the new PSW
   from 0x1c0. The handler acts as a tiny system-call layer on the caller's
   registers. One SVC is executed by EXECUTE RELATIVE LONG, which makes its
   ILC 3 (the length of the EXRL). */
#include "rt.h"

static volatile u64 calls, last_ilc, last_code;

static void handler(u16 code, u8 ilc, u64 *regs)
{
    calls++;
    last_ilc = ilc;
    last_code = code;
    switch (code) {
    case 1:  /* add */
        regs[2] = regs[2] + regs[3];
        break;
    case 2:  /* old PSW address, as the handler sees it */
        regs[2] = *(volatile u64 *)0x148;
        break;
    }
}

static u64 sys_add(u64 a, u64 b)
{
    register u64 r2 __asm__("r2") = a;
    register u64 r3 __asm__("r3") = b;
    __asm__ volatile("svc 1" : "+d"(r2) : "d"(r3) : "memory");
    return r2;
}

int main(void)
{
    rt_on_supervisor_call(handler);
    u64 sum = 0;
    for (u64 i = 0; i < 1000; i++)
        sum = sys_add(sum, i);
    rt_printf("1000 SVC 1 calls: sum %lu, ilc %lu\n", sum, last_ilc);

    register u64 r2 __asm__("r2") = 0;
    u64 after;
    __asm__ volatile("svc 2\n1:\tlarl %1,1b" : "+d"(r2), "=a"(after) :: "memory");
    rt_printf("SVC 2: old PSW %s\n", r2 == after ? "points past the SVC" : "WRONG");

    /* EXRL of "svc 0" with R1 = 7: the SVC number comes from the OR. */
    register u64 r1 __asm__("r1") = 7;
    __asm__ volatile("exrl %0,0f\n\tj 1f\n0:\tsvc 0\n1:" :: "a"(r1) : "memory");
    rt_printf("EXRL of SVC 0 with 7: code %lu, ilc %lu\n", last_code, last_ilc);
    rt_printf("%lu supervisor calls\n", calls);
    return sum == 499500 ? 0 : 1;
}
