/* Program interruptions taken and resolved: segment- and page-translation
   exceptions (nullifying: the instruction runs again once the handler has
   mapped the page), a DAT-protection exception (suppressing: the store is
   not made and execution continues after it) and the operation exception
   of an unassigned opcode. */
#include "rt.h"

#define VA 0x10000000UL
#define PAGES 600

/* Written by the handler behind the compiler's back: volatile. */
static volatile u64 counts[64];
static volatile u64 first_teids[4];
static volatile int nfirst;
static volatile u64 last_old_psw, last_ilc, protection_teid;

static int handler(u16 code, u64 teid, u64 *old_psw)
{
    counts[code & 63]++;
    last_old_psw = old_psw[1];
    last_ilc = (rt_lowcore64(0x88) >> 16) & 0xffff;  /* halfword at 0x8c */
    switch (code) {
    case 0x10:  /* segment translation: make the page table */
        if (nfirst < 4) first_teids[nfirst++] = teid;
        rt_pte(rt_primary, teid & ~0xfffUL);
        return 1;
    case 0x11: {  /* page translation: map a fresh frame */
        if (nfirst < 4) first_teids[nfirst++] = teid;
        u64 va = teid & ~0xfffUL;
        u64 f = rt_frame();
        *(u64 *)f = va;
        rt_map(rt_primary, va, f, 0);
        return 1;
    }
    case 0x04:  /* protection */
        protection_teid = teid;
        return 1;
    case 0x01:  /* operation */
        return 1;
    }
    return 0;
}

int main(void)
{
    rt_on_program_interrupt(handler);

    /* Demand paging: every first touch of a page faults. */
    u64 sum = 0;
    for (u64 i = 0; i < PAGES; i++)
        sum += *(volatile u64 *)(VA + i * PAGE_SIZE);
    for (u64 i = 0; i < PAGES; i++)
        *(volatile u64 *)(VA + i * PAGE_SIZE + 16) = i;
    u64 sum2 = 0;
    for (u64 i = 0; i < PAGES; i++)
        sum2 += *(volatile u64 *)(VA + i * PAGE_SIZE + 16);
    rt_printf("segment faults %lu, page faults %lu\n", counts[0x10], counts[0x11]);
    rt_printf("first TEIDs %lx %lx %lx\n", first_teids[0], first_teids[1], first_teids[2]);
    rt_printf("sum of page addresses %lx, stored sum %lu\n", sum, sum2);

    /* A store fault reports a store in the TEID. */
    nfirst = 0;
    *(volatile u64 *)(VA + PAGES * PAGE_SIZE) = 1;
    rt_printf("store fault TEID %lx\n", first_teids[0]);

    /* DAT protection: the store is suppressed. */
    u64 va = VA + 3 * PAGE_SIZE;
    u64 *pte = rt_pte(rt_primary, va);
    u64 frame = *pte & ~0xfffUL;
    rt_ipte((u64)pte & ~0x7ffUL, va);
    *pte = frame | PTE_PROTECT;
    u64 before = *(volatile u64 *)va;
    *(volatile u64 *)va = 0xdead;
    rt_printf("protection exceptions %lu, store suppressed: %s\n", counts[0x04],
              *(volatile u64 *)va == before ? "yes" : "NO");
    /* ESOP-1: the TEID names the page, a store, and DAT protection (bit 61). */
    rt_printf("protection TEID %lx\n", protection_teid);

    /* An unassigned opcode: operation exception, ILC 1, old PSW past it. */
    u64 here;
    __asm__ volatile("larl %0,1f\n1:\t.short 0x0000" : "=a"(here) :: "memory");
    rt_printf("operation exceptions %lu, ilc %lu, old PSW %s\n", counts[0x01], last_ilc / 2,
              last_old_psw == here + 2 ? "past the instruction" : "WRONG");
    return counts[0x11] == PAGES + 1 && sum2 == PAGES * (PAGES - 1) / 2 ? 0 : 1;
}
