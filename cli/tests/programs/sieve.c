/* Sieve of Eratosthenes over half a million numbers (times SCALE). */
#include "rt.h"

#define N (500000 * SCALE)
static u8 composite[N + 1];

int main(void)
{
    u64 count = 0, sum = 0, last = 0;
    for (int round = 0; round < 1; round++) {
        memset(composite, 0, sizeof(composite));
        count = sum = 0;
        for (u64 i = 2; i * i <= N; i++)
            if (!composite[i])
                for (u64 j = i * i; j <= N; j += i)
                    composite[j] = 1;
        for (u64 i = 2; i <= N; i++)
            if (!composite[i])
                count++, sum += i, last = i;
    }
    rt_printf("primes below %d: %lu\n", N, count);
    rt_printf("largest: %lu, sum: %lu\n", last, sum);
    return count == (N == 500000 ? 41538 : count) ? 0 : 1;
}
