/* Pointer chasing through one random cycle over 128Ki nodes (1 MiB,
   times SCALE): every step is a dependent load, most on a different page.
   Built with -DCHASE_MIB=M (the benchmark's chase64 and chase512), the
   nodes fill M MiB instead, mapped virtual = real from 64 MiB up through a
   segment table of 2048 entries (2 GiB): run with 1 GiB of storage. The
   cycle is then that of a full-period linear congruential generator
   (node i links to (A i + C) mod N, N a power of two, A = 1 mod 4, C odd:
   Hull-Dobell) instead of a shuffle, so that building it is sequential
   stores and the run is the chase: up to 16Mi dependent loads all over
   the nodes. */
#include "rt.h"

#ifdef CHASE_MIB
#define N (((u64)CHASE_MIB << 20) / 8)
#define BIG_BASE 0x4000000UL
static u64 *next;

/* A copy of the primary space (TL 3: 2048 segments) that also maps
   BIG_BASE.. virtual = real, loaded into CR1. */
static void map_nodes(void)
{
    u64 *st = rt_table(4 * 4096);
    u64 *primary = (u64 *)(rt_primary & ~0xfffUL);
    for (int i = 0; i < 2048; i++)
        st[i] = i < 512 ? primary[i] : SEG_INVALID;
    u64 asce = (u64)st | 3;
    for (u64 va = BIG_BASE; va < BIG_BASE + N * 8; va += PAGE_SIZE)
        rt_map(asce, va, va, 0);
    LCTLG(1, asce);
    next = (u64 *)BIG_BASE;
}
#else
#define N ((1UL << 17) * SCALE)
static u64 next[N];
static void map_nodes(void) {}
#endif

int main(void)
{
    map_nodes();
#ifdef CHASE_MIB
    for (u64 i = 0; i < N; i++)
        next[i] = (0x5851f42d4c957f2dUL * i + 0x14057b7ef767814fUL) & (N - 1);
    /* At most 16Mi steps (a quarter of the 512 MiB cycle). */
    u64 p = 0, sum = 0, steps = N < (1UL << 24) ? N : (1UL << 24);
    for (u64 s = 0; s < steps; s++) {
        p = next[p];
        sum += p;
    }
    rt_printf("chased %lu steps: at %lu, sum %lu\n", steps, p, sum);
    /* One cycle through every node: back at 0 after N steps, with the sum
       of all node numbers. */
    if (steps == N)
        return p == 0 && sum == N * (N - 1) / 2 ? 0 : 1;
    return p < N ? 0 : 1;
#else
    for (u64 i = 0; i < N; i++)
        next[i] = i;
    rt_srand(4242);
    /* Sattolo's algorithm: a single cycle through every node. */
    for (u64 i = N - 1; i > 0; i--) {
        u64 j = rt_rand() % i;
        u64 t = next[i]; next[i] = next[j]; next[j] = t;
    }
    u64 p = 0, sum = 0, steps = 3 * N;
    for (u64 s = 0; s < steps; s++) {
        p = next[p];
        sum += p;
    }
    u64 len = 1;
    for (u64 q = next[0]; q != 0; q = next[q])
        len++;
    rt_printf("chased %lu steps: at %lu, sum %lu\n", steps, p, sum);
    rt_printf("cycle length %lu\n", len);
    return len == N ? 0 : 1;
#endif
}
