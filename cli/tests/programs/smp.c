/* Several CPUs on shared storage: CPU 0 starts every other CPU (SIGP SET
   PREFIX and RESTART, rt_cpu_start); each CPU then adds to two counters
   ROUNDS times, one under a COMPARE AND SWAP spin lock and one with LOAD
   AND ADD, and the totals must be exact (no lost update). The others stop
   themselves (SIGP STOP); CPU 0 senses them stopped (SIGP SENSE), checks
   the answers to orders for a CPU that does not exist and for a running
   one, and exits with the number of wrong results. Run with --smp 2 or
   more (QEMU: -smp N). */
#include "rt.h"

#define ROUNDS (20000 * SCALE)

static volatile u32 lock;
static volatile u64 locked_counter;
static volatile u32 atomic_counter;
static volatile u32 finished;
static volatile u32 go;
static u8 spare_prefix[8192] __attribute__((aligned(8192)));

static void spin_lock(void)
{
    for (;;) {
        u32 old = 0;
        __asm__ volatile("cs %0,%2,%1" : "+d"(old), "+Q"(lock) : "d"(1) : "cc", "memory");
        if (old == 0)
            return;
        while (lock)
            ;
    }
}

static void spin_unlock(void)
{
    __asm__ volatile("" ::: "memory");
    lock = 0;
}

static void work(void)
{
    for (u32 i = 0; i < ROUNDS; i++) {
        spin_lock();
        locked_counter = locked_counter + 1;
        spin_unlock();
        __atomic_fetch_add(&atomic_counter, 1, __ATOMIC_SEQ_CST);
    }
}

static void secondary(void)
{
    while (!go)
        ;
    work();
    __atomic_fetch_add(&finished, 1, __ATOMIC_SEQ_CST);
    rt_cpu_stop();
}

int main(void)
{
    int errors = 0;
    u32 status = 0;
    int n = rt_cpu_count();
    rt_printf("cpus: %d\n", n);
    if (rt_sigp(RT_MAX_CPUS + 100, 1, 0, &status) != 3) {
        rt_printf("sense of a missing CPU is not cc 3\n");
        errors++;
    }
    for (int cpu = 1; cpu < n; cpu++) {
        rt_cpu_start(cpu, secondary);
        /* Running (waiting for go): SET PREFIX is refused (incorrect
           state). */
        int cc = rt_sigp(cpu, 0x0d, (u64)spare_prefix, &status);
        if (cc != 1 || status != 0x200) {
            rt_printf("set prefix of a running cpu %d: cc %d status %x\n", cpu, cc, status);
            errors++;
        }
    }
    go = 1;
    work();
    while (finished != (u32)(n - 1))
        ;
    for (int cpu = 1; cpu < n; cpu++) {
        while (rt_sigp(cpu, 1, 0, &status) != 1 || !(status & 0x40))
            ;
    }
    u64 expected = (u64)ROUNDS * n;
    rt_printf("locked counter %s\n", locked_counter == expected ? "exact" : "lost updates");
    rt_printf("atomic counter %s\n", atomic_counter == expected ? "exact" : "lost updates");
    errors += (locked_counter != expected) + (atomic_counter != expected);
    return errors;
}
