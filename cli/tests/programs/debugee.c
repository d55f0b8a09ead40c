/* The program cli/tests/gdb.rs drives with gdb-multiarch: a first touch of
   an unmapped page takes a segment- and a page-translation exception whose
   handler maps a frame holding a marker; then the value of `secret` (which
   gdb changes) is reported. */
#include "rt.h"

#define VA 0x10000000UL
#define MARKER 0x5a4d4d55UL  /* "ZMMU" */

volatile u64 secret = 42;
volatile u64 faults;

static int handler(u16 code, u64 teid, u64 *old_psw)
{
    (void)old_psw;
    u64 va = teid & ~0xfffUL;
    faults++;
    if (code == 0x10) {  /* segment translation: make the page table */
        rt_pte(rt_primary, va);
        return 1;
    }
    if (code == 0x11) {  /* page translation: a frame with the marker */
        u64 f = rt_frame();
        *(u64 *)f = MARKER;
        rt_map(rt_primary, va, f, 0);
        return 1;
    }
    return 0;
}

__attribute__((noinline)) u64 touch(volatile u64 *p)
{
    return *p;
}

__attribute__((noinline)) void report(u64 value)
{
    rt_printf("secret %lu\n", value);
}

int main(void)
{
    rt_on_program_interrupt(handler);
    u64 v = touch((volatile u64 *)VA);
    rt_printf("faults %lu, read %lx\n", faults, v);
    report(secret);
    return 0;
}
