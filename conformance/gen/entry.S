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
 * 80 r8 out, 96 r10 in, 104 r11 in. */
    .text
    .globl run_snippet
run_snippet:
    larl    %r1, ctx
    stmg    %r6, %r15, save_area-ctx(%r1)
    lmg     %r2, %r4, 16(%r1)
    lghi    %r5, 0
    lghi    %r7, -1
    lghi    %r8, -1
    lg      %r10, 96(%r1)
    lg      %r11, 104(%r1)
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

/* Format-2 steps. Accesses: the access instruction first (the old PSW of
 * an exception is compared with the snippet's start), then the tags next to
 * the first and the last byte: r3 and r4 hold their addresses; r10/r11 are
 * the data (zero for stores). */
    .globl snip_v2, snip_v2_end
snip_v2:
    .globl snip_r1, snip_r2, snip_r4, snip_r8, snip_r16
    .globl snip_w1, snip_w2, snip_w4, snip_w8, snip_w16
snip_r1:  ic    %r10, 0(%r2)
          j     2f
snip_r2:  lh    %r10, 0(%r2)
          j     2f
snip_r4:  l     %r10, 0(%r2)
          j     2f
snip_r8:  lg    %r10, 0(%r2)
          j     2f
snip_r16: lmg   %r10, %r11, 0(%r2)
          j     2f
snip_w1:  stc   %r10, 0(%r2)
          j     2f
snip_w2:  sth   %r10, 0(%r2)
          j     2f
snip_w4:  st    %r10, 0(%r2)
          j     2f
snip_w8:  stg   %r10, 0(%r2)
          j     2f
snip_w16: stmg  %r10, %r11, 0(%r2)
2:  lg      %r5, 0(%r3)
    lg      %r7, 0(%r4)
    svc     1

/* Queries, with the step's PSW: condition code by IPM into r8, the
 * result in r7 (R1 all ones before). */
    .globl snip_tprot, snip_lra, snip_lray, snip_strag
snip_tprot: tprot 0(%r2), 0(%r3)
            j     3f
snip_lra:   lra   %r7, 0(%r2)
            j     3f
snip_lray:  lray  %r7, 0(%r2)
            j     3f
snip_strag: strag 0(%r3), 0(%r2)
3:  ipm     %r8
    svc     5

/* Operations, DAT off (raw encodings: the options are not in every
 * assembler). r2, r3, r4 as the step says; CSP/CSPG compare r10, swap r11. */
    .globl snip_lptea0, snip_lptea2, snip_lptea3
    .globl snip_ipte, snip_ipte_l, snip_ipte_r, snip_ipte_rl
    .globl snip_idte, snip_idte_l, snip_csp, snip_cspg
    .globl snip_sske0, snip_sske8, snip_rrbe, snip_spx
snip_lptea0:  .long 0xb9aa0072          /* lptea %r7,%r0,%r2,0 */
              j     3b
snip_lptea2:  .long 0xb9aa0272
              j     3b
snip_lptea3:  .long 0xb9aa0372
              j     3b
snip_ipte:    .long 0xb2210023          /* ipte %r2,%r3 */
              j     3b
snip_ipte_l:  .long 0xb2210123          /* ipte %r2,%r3,0,1 */
              j     3b
snip_ipte_r:  .long 0xb2214023          /* ipte %r2,%r3,%r4 */
              j     3b
snip_ipte_rl: .long 0xb2214123          /* ipte %r2,%r3,%r4,1 */
              j     3b
snip_idte:    .long 0xb98e4023          /* idte %r2,%r4,%r3 */
              j     3b
snip_idte_l:  .long 0xb98e4123          /* idte %r2,%r4,%r3,1 */
              j     3b
snip_csp:     .long 0xb25000a2          /* csp %r10,%r2 */
              j     3b
snip_cspg:    .long 0xb98a00a2          /* cspg %r10,%r2 */
              j     3b
snip_sske0:   .long 0xb22b0032          /* sske %r3,%r2 */
              j     3b
snip_sske8:   .long 0xb22b8032          /* sske %r3,%r2,8 (NQ) */
              j     3b
snip_rrbe:    .long 0xb22a0002          /* rrbe %r0,%r2 */
              j     3b
snip_spx:     spx   0(%r2)
              j     3b
    .align 8
    .globl snip_scratch
snip_scratch: .quad 0, 0
snip_v2_end:

    .bss
    .align 8
    .globl ctx
ctx:        .space 112
save_area:  .space 80
    .align 8
stack:      .space 16384
stack_top:
    .section .note.GNU-stack,"",@progbits
