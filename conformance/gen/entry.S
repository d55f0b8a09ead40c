/* Entry, PSW switching and the DAT-on snippets of the DAT probe. */
    .section .text.start, "ax"
    .globl _start
_start:
    larl    %r15, stack_top - 160
    lghi    %r0, 0
    stg     %r0, 0(%r15)
    brasl   %r14, probe_main
    larl    %r1, done_psw
    lpswe   0(%r1)

/* void run_snippet(void): run ctx.psw with ctx.r2..r4 and ctx.cr0 loaded,
 * return when the snippet ends with SVC or is interrupted.
 * ctx layout: 0 psw mask, 8 psw addr, 16 r2, 24 r3, 32 r4, 40 scenario cr0,
 * 48 probe cr0, 56 kind out (1 svc, 2 program), 64 r5 out, 72 r7 out,
 * 80 r8 out. */
    .text
    .globl run_snippet
run_snippet:
    larl    %r1, ctx
    stmg    %r6, %r15, save_area-ctx(%r1)
    lmg     %r2, %r4, 16(%r1)
    lghi    %r5, 0
    lghi    %r7, -1
    lghi    %r8, -1
    lctlg   %c0, %c0, 40(%r1)
    lpswe   0(%r1)
    .globl svc_entry
svc_entry:
    lghi    %r9, 1
    j       1f
    .globl pgm_entry
pgm_entry:
    lghi    %r9, 2
1:  larl    %r1, ctx
    lctlg   %c0, %c0, 48(%r1)
    stg     %r9, 56(%r1)
    stg     %r5, 64(%r1)
    stg     %r7, 72(%r1)
    stg     %r8, 80(%r1)
    lmg     %r6, %r15, save_area-ctx(%r1)
    br      %r14

/* void sclp_wait(void): wait enabled for the service-signal interruption. */
    .globl sclp_wait
sclp_wait:
    larl    %r1, ext_done
    stg     %r1, 0x1b8
    larl    %r1, ext_mask
    mvc     0x1b0(8), 0(%r1)
    larl    %r1, wait_psw
    lpswe   0(%r1)
ext_done:
    br      %r14

    .align 8
ext_mask:  .quad 0x0000000180000000
wait_psw:  .quad 0x0102000180000000, 0
done_psw:  .quad 0x0002000180000000, 0x600d

/* Snippets, executed with DAT on: r2 = address, r3 = sibling doubleword,
 * r4 = byte to store. */
    .section .snip, "ax"
    .globl snip_read, snip_write, snip_fetch, snip_sibling, snip_lrag
snip_read:
    ic      %r4, 0(%r2)
    lg      %r5, 0(%r3)
    svc     1
snip_write:
    stc     %r4, 0(%r2)
    lg      %r5, 0(%r3)
    svc     2
snip_fetch:
    br      %r2
snip_sibling:
    lg      %r5, 0(%r3)
    svc     3
snip_lrag:
    lrag    %r7, 0(%r2)
    ipm     %r8
    svc     4

    .bss
    .align 8
    .globl ctx
ctx:        .space 96
save_area:  .space 80
    .align 8
stack:      .space 16384
stack_top:
    .section .note.GNU-stack,"",@progbits
