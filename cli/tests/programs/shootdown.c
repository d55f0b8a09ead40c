/* Translation changes reach every CPU before the instruction that makes
   them completes. CPU 0 repoints a page that the other CPUs read in a loop
   from one frame to another with COMPARE AND SWAP AND PURGE (a valid entry
   changed in place, every TLB purged), writing the round number into each
   frame before it is mapped: a reader that sees an older round than the
   one published before its read used a stale translation. Then CPU 0
   invalidates and revalidates an unrelated page IPTES times with IPTE
   while the readers keep reading (the cost of a global IPTE, measured by
   running it with 1, 2 and 4 CPUs). Run with --smp 2 or more. */
#include "rt.h"

#define VA 0x10100000UL      /* the page the readers read */
#define OTHER 0x10200000UL   /* the page CPU 0 invalidates with IPTE */
#define ROUNDS (200 * SCALE)
#define IPTES (500 * SCALE)

static volatile u64 published;
static volatile u32 done;
static volatile u32 stale;
static volatile u32 finished;

/* Reads per reader at most: a reader stops by itself (so that its
   spinning does not reach an instruction limit on a busy host). */
#define READS (2000000UL * SCALE)

static void reader(void)
{
    for (u64 reads = 0; !done && reads < READS; reads++) {
        u64 before = published;
        u64 seen = *(volatile u64 *)VA;
        if (seen < before)
            __atomic_fetch_add(&stale, 1, __ATOMIC_SEQ_CST);
    }
    __atomic_fetch_add(&finished, 1, __ATOMIC_SEQ_CST);
    rt_cpu_stop();
}

/* CSPG: replaces *pte with `new` if it holds `old`, purging every TLB. */
static void cspg(u64 *pte, u64 old, u64 new)
{
    register u64 r0 __asm__("0") = old;
    register u64 r1 __asm__("1") = new;
    __asm__ volatile(".insn rre,0xb98a0000,%0,%2"
                     : "+d"(r0)
                     : "d"(r1), "a"((u64)pte | 1)
                     : "cc", "memory");
}

int main(void)
{
    int n = rt_cpu_count();
    rt_printf("cpus: %d\n", n);
    u64 frames[2] = {rt_frame(), rt_frame()};
    rt_map(rt_primary, VA, frames[0], 0);
    rt_map(rt_primary, OTHER, rt_frame(), 0);
    u64 *pte = rt_pte(rt_primary, VA);
    for (int cpu = 1; cpu < n; cpu++)
        rt_cpu_start(cpu, reader);

    int failed = 0;
    for (u64 round = 1; round <= ROUNDS; round++) {
        u64 next = frames[round & 1];
        *(volatile u64 *)next = round;
        /* (QEMU 7.2 sets cc 1 here although it stores: the entry is
           what tells.) */
        cspg(pte, *pte, next);
        if (*pte != next)
            failed++;
        published = round;
    }
    rt_printf("csp remap: %s\n", failed ? "entry not replaced" : "done");

    u64 *other = rt_pte(rt_primary, OTHER);
    u64 valid = *other;
    int left_valid = 0;
    for (u32 i = 0; i < IPTES; i++) {
        rt_ipte((u64)other & ~0x7ffUL, OTHER);
        if (!(*other & PTE_INVALID))
            left_valid++;
        *other = valid;
    }
    rt_printf("ipte: %s\n", left_valid ? "entry left valid" : "done");

    done = 1;
    while (finished != (u32)(n - 1))
        ;
    rt_printf("stale reads: %u\n", stale);
    return failed + left_valid + (stale != 0);
}
