/* Several CPUs on shared storage: CPU 0 gives every other CPU a prefix
   area (SIGP SET PREFIX) and starts it (SIGP RESTART); each CPU then adds
   to two counters ROUNDS times, one under a COMPARE AND SWAP spin lock and
   one with LOAD AND ADD, and the totals must be exact (no lost update).
   The others stop themselves (SIGP STOP); CPU 0 senses them stopped
   (SIGP SENSE), checks the answers to orders for a CPU that does not
   exist and for a running one, and exits with the number of wrong
   results. Run with --smp 2 or more (QEMU: -smp N). */
#include "rt.h"

#define MAX_CPUS 8
#define ROUNDS (20000 * SCALE)

static volatile u32 lock;
static volatile u64 locked_counter;
static volatile u32 atomic_counter;
static volatile u32 finished;
static volatile u32 started;
static volatile u32 go;
u64 next_stack;

static u8 prefix_areas[MAX_CPUS][8192] __attribute__((aligned(8192)));
static u8 stacks[MAX_CPUS][16384] __attribute__((aligned(8)));

/* SIGNAL PROCESSOR: the condition code; the status (cc 1) in *status. */
static int sigp(u16 cpu, u8 order, u64 parameter, u32 *status)
{
    register u64 r1 __asm__("1") = parameter;
    int cc;
    __asm__ volatile("sigp %1,%2,0(%3)\n\tipm %0\n\tsrl %0,28"
                     : "=d"(cc), "+d"(r1)
                     : "d"((u64)cpu), "a"((u64)order)
                     : "cc", "memory");
    if (status)
        *status = (u32)r1;
    return cc;
}

static u16 stap(void)
{
    u16 a;
    __asm__ volatile("stap %0" : "=Q"(a));
    return a;
}

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

/* Where a restarted CPU begins (DAT off, on the stack in next_stack). */
void secondary_main(void)
{
    __atomic_fetch_add(&started, 1, __ATOMIC_SEQ_CST);
    while (!go)
        ;
    work();
    __atomic_fetch_add(&finished, 1, __ATOMIC_SEQ_CST);
    sigp(stap(), 5 /* stop */, 0, 0);
    for (;;)
        ;
}

__asm__(".text\n"
        ".globl secondary_entry\n"
        "secondary_entry:\n"
        "  larl %r15, next_stack\n"
        "  lg %r15, 0(%r15)\n"
        "  aghi %r15, -160\n"
        "  larl %r1, afp\n"
        "  lctlg %c0, %c0, 0(%r1)\n"
        "  brasl %r14, secondary_main\n"
        "  j .\n"
        ".data\n.align 8\nafp: .quad 0x40000\n.text\n");
void secondary_entry(void);

int main(void)
{
    int errors = 0;
    u32 status = 0;
    int n = 1;
    /* Count the CPUs: addresses 1, 2, ... until one is not operational. */
    while (n < MAX_CPUS && sigp(n, 1 /* sense */, 0, &status) != 3)
        n++;
    rt_printf("cpus: %d\n", n);
    if (sigp(MAX_CPUS + 100, 1, 0, &status) != 3) {
        rt_printf("sense of a missing CPU is not cc 3\n");
        errors++;
    }
    for (int cpu = 1; cpu < n; cpu++) {
        u8 *area = prefix_areas[cpu];
        u64 *restart_new = (u64 *)(area + 0x1a0);
        restart_new[0] = 0x0000000180000000UL;
        restart_new[1] = (u64)secondary_entry;
        next_stack = (u64)(stacks[cpu] + sizeof(stacks[cpu]));
        u32 before = started;
        int cc = sigp(cpu, 0x0d /* set prefix */, (u64)area, &status);
        if (cc != 0) {
            rt_printf("set prefix cpu %d: cc %d status %x\n", cpu, cc, status);
            errors++;
        }
        cc = sigp(cpu, 0x06 /* restart */, 0, &status);
        if (cc != 0) {
            rt_printf("restart cpu %d: cc %d\n", cpu, cc);
            errors++;
        }
        while (started == before)
            ;
        /* Running (waiting for go): SET PREFIX is refused (incorrect
           state). */
        cc = sigp(cpu, 0x0d, (u64)area, &status);
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
        int cc;
        while ((cc = sigp(cpu, 1, 0, &status)) != 1 || !(status & 0x40))
            ;
    }
    u64 expected = (u64)ROUNDS * n;
    rt_printf("locked counter %s\n", locked_counter == expected ? "exact" : "lost updates");
    rt_printf("atomic counter %s\n", atomic_counter == expected ? "exact" : "lost updates");
    errors += (locked_counter != expected) + (atomic_counter != expected);
    return errors;
}
