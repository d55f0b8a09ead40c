/* Entry, interruption stubs and the disabled-wait exit.
   QEMU starts us at _start with PSW 0x0000000180000000 (64-bit, DAT off,
   disabled, key 0); so does zmmu run. */

    .section .text.start, "ax"
    .globl _start
_start:
    larl    %r15, stack_top
    aghi    %r15, -160
    /* CR0 bit 45, the AFP-register control: GCC spills to f8-f15, which
       raise a data exception (DXC 1) while it is off. */
    stctg   %c0, %c0, 0(%r15)
    oi      5(%r15), 0x04
    lctlg   %c0, %c0, 0(%r15)
    brasl   %r14, rt_init
    brasl   %r14, main
    brasl   %r14, rt_exit           /* never returns */

    .text

/* void rt_wait_service_signal(void): enable the service-signal subclass
   (CR0 bit 54), load an enabled-wait PSW that keeps the current DAT and
   address-space mode, and return when the external interruption comes.
   The same shape as QEMU's s390-ccw BIOS. */
    .globl rt_wait_service_signal
rt_wait_service_signal:
    stmg    %r6, %r7, 48(%r15)
    stctg   %c0, %c0, 0(%r15)
    oi      6(%r15), 0x02
    lctlg   %c0, %c0, 0(%r15)
    epsw    %r6, %r7                /* r6 = PSW bits 0-31, r7 = bits 32-63 */
    sllg    %r6, %r6, 32
    llgfr   %r7, %r7
    ogr     %r6, %r7
    nihh    %r6, 0xfcfd             /* no I/O, external or wait bits */
    larl    %r1, ext_new_psw
    stg     %r6, 0(%r1)
    larl    %r7, 1f
    stg     %r7, 8(%r1)
    mvc     0x1b0(16, %r0), 0(%r1)  /* external new PSW */
    oihh    %r6, 0x0102             /* external mask and wait */
    larl    %r1, wait_psw
    stg     %r6, 0(%r1)
    lpswe   0(%r1)
1:  stctg   %c0, %c0, 0(%r15)
    ni      6(%r15), 0xfd
    lctlg   %c0, %c0, 0(%r15)
    lmg     %r6, %r7, 48(%r15)
    br      %r14

/* Program interruptions: save the registers at 0x200, call
   rt_program_interrupt(code, teid, old_psw) on its own stack, then resume
   with the (possibly changed) old PSW. */
    .globl rt_program_entry
rt_program_entry:
    stmg    %r0, %r15, 0x200(%r0)
    larl    %r15, pgm_stack_top
    aghi    %r15, -160
    llgh    %r2, 0x8e(%r0)
    lg      %r3, 0xa8(%r0)
    la      %r4, 0x150(%r0)
    brasl   %r14, rt_program_interrupt
    lmg     %r0, %r15, 0x200(%r0)
    lpswe   0x150(%r0)

/* Supervisor calls: save the registers at 0x280, call
   rt_supervisor_call(code, ilc, regs) on its own stack (it may change the
   saved registers), then resume with the SVC old PSW. */
    .globl rt_svc_entry
rt_svc_entry:
    stmg    %r0, %r15, 0x280(%r0)
    larl    %r15, pgm_stack_top
    aghi    %r15, -160
    llgh    %r2, 0x8a(%r0)
    llgc    %r3, 0x89(%r0)
    la      %r4, 0x280(%r0)
    brasl   %r14, rt_supervisor_call
    lmg     %r0, %r15, 0x280(%r0)
    lpswe   0x140(%r0)

/* void rt_exit(unsigned long code): flush the console and load a
   disabled-wait PSW whose address is the exit code. */
    .globl rt_exit
rt_exit:
    lgr     %r6, %r2
    brasl   %r14, rt_flush
    larl    %r1, wait_psw
    llihf   %r0, 0x00020001         /* wait bit, EA */
    oilf    %r0, 0x80000000         /* BA */
    stg     %r0, 0(%r1)
    stg     %r6, 8(%r1)
    lpswe   0(%r1)

    .data
    .align  8
ext_new_psw:  .quad 0, 0
wait_psw:     .quad 0, 0

    .bss
    .align  4096
    .space  65536
stack_top:
    .space  16384
pgm_stack_top:

    .section .note.GNU-stack,"",@progbits
