/* Pointer chasing through one random cycle over 128Ki nodes (1 MiB,
   times SCALE):
   every step is a dependent load, most on a different page. */
#include "rt.h"

#define N ((1UL << 17) * SCALE)
static u64 next[N];

int main(void)
{
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
}
