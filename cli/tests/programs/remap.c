/* Remapping a live mapping: IPTE invalidates page-table entries and IDTE a
   segment-table entry, each purging the TLB entries formed through it, so
   the new mapping is what the next access sees. */
#include "rt.h"

/* 64 pages at 0x10080000: in a direct-mapped TLB indexed by the page
   number they take slots that the program, its tables and frames do not
   use, so a missed invalidation would show as stale data. */
#define VA 0x10080000UL
#define PAGES 64

static u64 sum_pages(void)
{
    u64 s = 0;
    for (u64 i = 0; i < PAGES; i++)
        s = s * 31 + *(volatile u64 *)(VA + i * PAGE_SIZE);
    return s;
}

int main(void)
{
    u64 asce = rt_primary;
    u64 f1[PAGES], f2[PAGES];
    for (u64 i = 0; i < PAGES; i++) {
        f1[i] = rt_frame();
        f2[i] = rt_frame();
        *(u64 *)f1[i] = 1000 + i;
        *(u64 *)f2[i] = 2000 + i;
        rt_map(asce, VA + i * PAGE_SIZE, f1[i], 0);
    }
    u64 s1 = sum_pages();
    rt_printf("mapped to f1: %lx\n", s1);

    /* IPTE each page, then point it at the other frame, reversed. */
    for (u64 i = 0; i < PAGES; i++) {
        u64 *pte = rt_pte(asce, VA + i * PAGE_SIZE);
        rt_ipte((u64)pte & ~0x7ffUL, VA + i * PAGE_SIZE);
        if (!(*pte & PTE_INVALID))
            rt_printf("IPTE left page %lu valid\n", i);
        *pte = f2[PAGES - 1 - i];
    }
    u64 s2 = sum_pages();
    rt_printf("after IPTE, reversed f2: %lx\n", s2);

    /* IDTE the segment, then give it a new page table onto f2 in order. */
    u64 *ste = rt_ste(asce, VA);
    u64 *pt = rt_table(2048);
    u64 first = (VA >> 12) & 0xff;
    for (u64 i = 0; i < 256; i++)
        pt[i] = i >= first && i < first + PAGES ? f2[i - first] : PTE_INVALID;
    rt_idte(asce & ~0xfffUL, VA & ~0xfffffUL);  /* the segment index only */
    rt_printf("IDTE set the segment entry invalid: %s\n", *ste & SEG_INVALID ? "yes" : "NO");
    *ste = (u64)pt;
    u64 s3 = sum_pages();
    rt_printf("after IDTE, new table onto f2 in order: %lx\n", s3);

    /* Writes through the new mapping land in f2. */
    for (u64 i = 0; i < PAGES; i++)
        *(volatile u64 *)(VA + i * PAGE_SIZE + 8) = i * i;
    u64 s4 = 0;
    for (u64 i = 0; i < PAGES; i++)
        s4 += ((u64 *)f2[i])[1];
    rt_printf("stores reached f2: %lu\n", s4);
    return s2 != s1 && s3 != s1 && s3 != s2 ? 0 : 1;
}
