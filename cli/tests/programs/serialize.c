/* CPU serialization between two CPUs (PoP "CPU Serialization"): the
   store-buffering test. In each round CPU 0 stores x = 1 and CPU 1 stores
   y = 1, each then serializes with BCR 14,0 (Linux's smp_mb()) and loads
   the other's variable; both loads finding zero is forbidden. CPU 0
   starts CPU 1 (rt_cpu_start), counts the forbidden rounds and exits with
   that count. Run with --smp 2 (QEMU: -smp 2). */
#include "rt.h"

#define ROUNDS (2000 * SCALE)

static volatile u32 x, y, r1, round_started, round_done;

static inline void serialize(void)
{
    __asm__ volatile("bcr 14,0" ::: "memory");
}

/* CPU 1's half of each round: y = 1, serialize, read x. */
static void cpu1(void)
{
    for (u32 round = 1; round <= ROUNDS; round++) {
        while (round_started != round)
            ;
        y = 1;
        serialize();
        r1 = x;
        round_done = round;
    }
    rt_cpu_stop();
}

int main(void)
{
    if (rt_cpu_count() < 2) {
        rt_printf("needs two CPUs\n");
        return 1;
    }
    rt_cpu_start(1, cpu1);
    u32 forbidden = 0;
    for (u32 round = 1; round <= ROUNDS; round++) {
        x = 0;
        y = 0;
        serialize();
        round_started = round;
        x = 1;
        serialize();
        u32 r0 = y;
        while (round_done != round)
            ;
        forbidden += r0 == 0 && r1 == 0;
    }
    rt_printf("store buffering %s\n", forbidden ? "seen after serialization" : "never");
    return forbidden != 0;
}
