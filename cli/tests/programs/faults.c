/* What a page fault costs: demand paging as an operating system does it.
   Phase 1 touches PAGES pages of a region no page table maps yet: each
   first touch is a page-translation exception (a segment-translation one
   per 1 MiB), whose handler maps one of FRAMES frames and returns, and
   the touch runs again (PoP ch. 6: nullification). Phase 2 touches them
   again in a second address space that shares the region's page tables:
   no exception, but every page is new to the emulator's TLB or shadow
   tables (a host fill where translations are cached by the host MMU).
   The benchmark (cli/bench/programs.sh) times it; the output says what
   was done, the same on every machine. */
#include "rt.h"

#define VA 0x10000000UL
#define PAGES (4096 * SCALE)
#define FRAMES 64

static volatile u64 segment_faults, page_faults;
static u64 frames[FRAMES];

static int handler(u16 code, u64 teid, u64 *old_psw)
{
    (void)old_psw;
    u64 va = teid & ~0xfffUL;
    switch (code) {
    case 0x10: /* segment translation: a page table, every page invalid */
        segment_faults++;
        rt_pte(rt_primary, va);
        return 1;
    case 0x11: /* page translation: one of the frames */
        rt_map(rt_primary, va, frames[page_faults++ % FRAMES], 0);
        return 1;
    }
    return 0;
}

/* Reads a word of every page of the region; their sum. */
static u64 touch_all(void)
{
    u64 sum = 0;
    for (u64 i = 0; i < PAGES; i++)
        sum += *(volatile u64 *)(VA + i * PAGE_SIZE + 8 * (i % 512));
    return sum;
}

int main(void)
{
    for (int f = 0; f < FRAMES; f++) {
        frames[f] = rt_frame();
        u64 *words = (u64 *)frames[f];
        for (int w = 0; w < 512; w++)
            words[w] = (u64)f * 512 + w;
    }
    rt_on_program_interrupt(handler);
    u64 first = touch_all();
    rt_printf("demand paging: %lu pages, %lu segment and %lu page faults, sum %lx\n",
              (u64)PAGES, segment_faults, page_faults, first);

    /* A second space with the region's segment-table entries. */
    u64 second = rt_space_new();
    for (u64 va = VA; va < VA + PAGES * PAGE_SIZE; va += 1UL << 20)
        *rt_ste(second, va) = *rt_ste(rt_primary, va);
    LCTLG(1, second);
    u64 again = touch_all();
    LCTLG(1, rt_primary);
    rt_printf("second space: %lu more faults, sum %s\n", segment_faults + page_faults - PAGES - PAGES / 256,
              again == first ? "the same" : "DIFFERENT");
    return again != first;
}
