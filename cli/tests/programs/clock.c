/* One TOD clock for the whole configuration (PoP "Time-of-Day Clock":
   the CPUs' clocks are synchronized; STORE CLOCK values are unique and
   increasing across the configuration): a clock value read by one CPU
   after it saw another CPU's read is never below it. CPU 0 starts CPU 1
   (rt_cpu_start); in each round CPU 0 reads the clock and publishes the
   value, CPU 1 waits for it, reads the clock and publishes its own, and
   CPU 0 waits for that and reads again. Counts the reads that went back
   and exits with that count. Run with --smp 2 (QEMU: -smp 2). */
#include "rt.h"

#define ROUNDS (2000 * SCALE)

static volatile u64 first, second;
static volatile u32 round_started, round_done;

static inline u64 stck(void)
{
    u64 value;
    __asm__ volatile("stck %0" : "=Q"(value) : : "cc", "memory");
    return value;
}

/* CPU 1's half of each round: after CPU 0's read, its own. */
static void cpu1(void)
{
    for (u32 round = 1; round <= ROUNDS; round++) {
        while (round_started != round)
            ;
        second = stck();
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
    u32 back = 0;
    for (u32 round = 1; round <= ROUNDS; round++) {
        first = stck();
        round_started = round;
        while (round_done != round)
            ;
        u64 later = stck();
        back += second <= first;
        back += later <= second;
    }
    rt_printf("clock went back %s\n", back ? "across CPUs" : "never");
    return back != 0;
}
