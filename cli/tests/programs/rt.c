#include "rt.h"
#include <stdarg.h>

/* ---- SCLP console ----------------------------------------------------- */

void rt_wait_service_signal(void);
void rt_program_entry(void);
void rt_svc_entry(void);

#define SCLP_WRITE_EVENT_MASK 0x00780005u
#define SCLP_WRITE_EVENT_DATA 0x00760005u
#define EVENT_ASCII 0x1a

static u8 sccb[4096] __attribute__((aligned(4096)));
static char line[1024];
static u32 line_len;
static int sclp_ready;

static int servc(u32 cmd, void *block)
{
    int cc;
    for (;;) {
        __asm__ volatile(".insn rre,0xb2200000,%1,%2\n\tipm %0\n\tsrl %0,28"
                         : "=&d"(cc) : "d"(cmd), "a"(block) : "cc", "memory");
        if (cc != 2)  /* 2: busy */
            break;
    }
    if (cc == 0)
        rt_wait_service_signal();
    return cc;
}

static void put16(u8 *p, u16 v) { p[0] = v >> 8; p[1] = v; }

static void sclp_init(void)
{
    /* Write event mask: 4-byte masks; we receive nothing, send ASCII. */
    memset(sccb, 0, 32);
    put16(sccb, 8 + 4 + 4 * 4);
    put16(sccb + 10, 4);
    sccb[12 + 4 + 1] = 0x40;  /* CP send mask: event type 0x1a (bit 26) */
    servc(SCLP_WRITE_EVENT_MASK, sccb);
    sclp_ready = 1;
}

void rt_flush(void)
{
    if (!line_len)
        return;
    if (!sclp_ready)
        sclp_init();
    u32 n = line_len;
    memset(sccb, 0, 16);
    put16(sccb, 8 + 6 + n);         /* SCCB length */
    put16(sccb + 8, 6 + n);         /* event buffer length */
    sccb[10] = EVENT_ASCII;
    memcpy(sccb + 14, line, n);
    servc(SCLP_WRITE_EVENT_DATA, sccb);
    line_len = 0;
}

void rt_putc(char c)
{
    line[line_len++] = c;
    if (c == '\n' || line_len == sizeof(line))
        rt_flush();
}

void rt_puts(const char *s)
{
    while (*s)
        rt_putc(*s++);
}

static void put_num(u64 v, int base, int width, char pad, int neg)
{
    char buf[24];
    int i = 0;
    do {
        buf[i++] = "0123456789abcdef"[v % base];
        v /= base;
    } while (v);
    if (neg)
        buf[i++] = '-';
    while (i < width)
        rt_putc(pad), width--;
    while (i)
        rt_putc(buf[--i]);
}

void rt_printf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    for (; *fmt; fmt++) {
        if (*fmt != '%') {
            rt_putc(*fmt);
            continue;
        }
        fmt++;
        char pad = ' ';
        int width = 0, lng = 0;
        if (*fmt == '0')
            pad = '0', fmt++;
        while (*fmt >= '0' && *fmt <= '9')
            width = width * 10 + (*fmt++ - '0');
        while (*fmt == 'l')
            lng = 1, fmt++;
        switch (*fmt) {
        case 'd': {
            i64 v = lng ? va_arg(ap, i64) : va_arg(ap, int);
            put_num(v < 0 ? -(u64)v : (u64)v, 10, width, pad, v < 0);
            break;
        }
        case 'u':
            put_num(lng ? va_arg(ap, u64) : va_arg(ap, u32), 10, width, pad, 0);
            break;
        case 'x':
            put_num(lng ? va_arg(ap, u64) : va_arg(ap, u32), 16, width, pad, 0);
            break;
        case 's':
            rt_puts(va_arg(ap, const char *));
            break;
        case 'c':
            rt_putc((char)va_arg(ap, int));
            break;
        default:
            rt_putc('%');
            rt_putc(*fmt);
        }
    }
    va_end(ap);
}

/* ---- memory helpers ----------------------------------------------------- */

void *memcpy(void *d, const void *s, size_t n)
{
    u8 *dp = d;
    const u8 *sp = s;
    while (n >= 256) {
        __asm__ volatile("mvc 0(256,%0),0(%1)" :: "a"(dp), "a"(sp) : "memory");
        dp += 256, sp += 256, n -= 256;
    }
    while (n--)
        *dp++ = *sp++;
    return d;
}

void *memset(void *d, int c, size_t n)
{
    u8 *dp = d;
    while (n && ((u64)dp & 7))
        *dp++ = c, n--;
    u64 w = (u8)c * 0x0101010101010101UL;
    while (n >= 8) {
        *(volatile u64 *)dp = w;
        dp += 8, n -= 8;
    }
    while (n--)
        *dp++ = c;
    return d;
}

int memcmp(const void *a, const void *b, size_t n)
{
    const u8 *x = a, *y = b;
    for (; n; n--, x++, y++)
        if (*x != *y)
            return *x - *y;
    return 0;
}

static u64 rand_state = 88172645463325252UL;
void rt_srand(u64 seed) { rand_state = seed ? seed : 1; }
u64 rt_rand(void)
{
    u64 x = rand_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return rand_state = x;
}

/* ---- DAT tables --------------------------------------------------------- */

static u64 pool_next = RT_POOL;
static u64 frame_next = RT_FRAMES;
static u64 *identity_pts[RT_IDENTITY_END >> 20];
u64 rt_primary;

void *rt_table(u64 bytes)
{
    u64 align = bytes >= 4096 ? 4096 : 2048;
    pool_next = (pool_next + align - 1) & ~(align - 1);
    void *t = (void *)pool_next;
    pool_next += bytes;
    if (pool_next > RT_FRAMES) {
        rt_puts("rt: table pool exhausted\n");
        rt_exit(0xed);
    }
    return t;
}

u64 rt_frame(void)
{
    u64 f = frame_next;
    frame_next += PAGE_SIZE;
    if (frame_next > RT_IDENTITY_END) {
        rt_puts("rt: out of frames\n");
        rt_exit(0xed);
    }
    memset((void *)f, 0, PAGE_SIZE);  /* identity mapped */
    return f;
}

u64 *rt_ste(u64 asce, u64 va)
{
    u64 *st = (u64 *)(asce & ~0xfffUL);
    return &st[(va >> 20) & 0x7ff];
}

u64 *rt_pte(u64 asce, u64 va)
{
    u64 *ste = rt_ste(asce, va);
    if (*ste & SEG_INVALID) {
        u64 *pt = rt_table(2048);
        for (int i = 0; i < 256; i++)
            pt[i] = PTE_INVALID;
        *ste = (u64)pt;
    }
    u64 *pt = (u64 *)(*ste & ~0x7ffUL);
    return &pt[(va >> 12) & 0xff];
}

void rt_map(u64 asce, u64 va, u64 frame, u64 flags)
{
    *rt_pte(asce, va) = (frame & ~0xfffUL) | flags;
}

u64 rt_space_new(void)
{
    u64 *st = rt_table(4096);  /* 512 entries: TL 0 */
    for (int i = 0; i < 512; i++)
        st[i] = SEG_INVALID;
    for (u64 s = 0; s < (RT_IDENTITY_END >> 20); s++) {
        if (!identity_pts[s]) {
            u64 *pt = rt_table(2048);
            for (int i = 0; i < 256; i++)
                pt[i] = (s << 20) + ((u64)i << 12);
            identity_pts[s] = pt;
        }
        st[s] = (u64)identity_pts[s];
    }
    return (u64)st;  /* DT 00 segment table, TL 0 */
}

/* ---- program interruptions ---------------------------------------------- */

static rt_pgm_handler pgm_handler;

void rt_on_program_interrupt(rt_pgm_handler h) { pgm_handler = h; }

void rt_program_interrupt(u16 code, u64 teid, u64 *old_psw)
{
    if (pgm_handler && pgm_handler(code, teid, old_psw))
        return;
    rt_printf("unexpected program interruption %04x at %lx (teid %lx)\n",
              code, old_psw[1], teid);
    rt_exit(0xee);
}

static rt_svc_handler svc_handler;

void rt_on_supervisor_call(rt_svc_handler h) { svc_handler = h; }

void rt_supervisor_call(u16 code, u8 ilc_byte, u64 *regs)
{
    if (svc_handler) {
        svc_handler(code, ilc_byte >> 1, regs);
        return;
    }
    rt_printf("unexpected SVC %u\n", code);
    rt_exit(0xef);
}

struct psw { u64 mask, addr; };

void rt_init(void)
{
    /* Program new PSW: 64-bit, DAT on (the handler runs in the identity
       map), disabled. */
    volatile struct psw *pgm_new = (struct psw *)0x1d0;
    volatile struct psw *svc_new = (struct psw *)0x1c0;
    rt_primary = rt_space_new();
    LCTLG(1, rt_primary);
    pgm_new->mask = 0x0400000180000000UL;
    pgm_new->addr = (u64)rt_program_entry;
    svc_new->mask = 0x0400000180000000UL;
    svc_new->addr = (u64)rt_svc_entry;
    u8 old;
    __asm__ volatile("stosm %0,0x04" : "=Q"(old) :: "memory");  /* DAT on */
}

/* Multiprocessing: SIGP and starting the other CPUs. */

int rt_sigp(u16 cpu, u8 order, u64 parameter, u32 *status)
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

u16 rt_cpu_address(void)
{
    u16 a;
    __asm__ volatile("stap %0" : "=Q"(a));
    return a;
}

int rt_cpu_count(void)
{
    u32 status;
    int n = 1;
    while (n < RT_MAX_CPUS && rt_sigp(n, 1 /* sense */, 0, &status) != 3)
        n++;
    return n;
}

void rt_cpu_stop(void)
{
    rt_sigp(rt_cpu_address(), 5 /* stop */, 0, 0);
    for (;;)
        ;
}

static u8 prefix_areas[RT_MAX_CPUS][8192] __attribute__((aligned(8192)));
static u8 cpu_stacks[RT_MAX_CPUS][16384] __attribute__((aligned(8)));
static volatile u32 cpus_running;
/* What the CPU being started loads: its stack, CR0, CR1 and entry. */
u64 rt_start_stack, rt_start_cr0, rt_start_entry;

/* Where a restarted CPU begins: DAT off, disabled; it loads CR0 and CR1
   as the starting CPU has them, turns DAT on and calls the entry. */
__asm__(".text\n"
        "rt_cpu_entry:\n"
        "  larl %r1, rt_start_stack\n"
        "  lg %r15, 0(%r1)\n"
        "  aghi %r15, -160\n"
        "  larl %r1, rt_start_cr0\n"
        "  lctlg %c0, %c0, 0(%r1)\n"
        "  larl %r1, rt_primary\n"
        "  lctlg %c1, %c1, 0(%r1)\n"
        "  stosm 0(%r15), 0x04\n"
        "  larl %r1, rt_start_entry\n"
        "  lg %r1, 0(%r1)\n"
        "  larl %r2, cpus_running\n"
        "  lhi %r3, 1\n"
        "  laa %r3, %r3, 0(%r2)\n"
        "  basr %r14, %r1\n"
        "  j .\n");
void rt_cpu_entry(void);

void rt_cpu_start(int cpu, void (*entry)(void))
{
    u8 *area = prefix_areas[cpu];
    volatile struct psw *restart_new = (struct psw *)(area + 0x1a0);
    volatile struct psw *pgm_new = (struct psw *)(area + 0x1d0);
    restart_new->mask = 0x0000000180000000UL;
    restart_new->addr = (u64)rt_cpu_entry;
    *pgm_new = *(volatile struct psw *)0x1d0;
    rt_start_stack = (u64)(cpu_stacks[cpu] + sizeof(cpu_stacks[cpu]));
    rt_start_cr0 = STCTG(0);
    rt_start_entry = (u64)entry;
    u32 before = cpus_running;
    u32 status;
    int cc = rt_sigp(cpu, 0x0d /* set prefix */, (u64)area, &status);
    if (cc == 0)
        cc = rt_sigp(cpu, 0x06 /* restart */, 0, &status);
    if (cc != 0) {
        rt_printf("cpu %d does not start: cc %d status %x\n", cpu, cc, status);
        rt_exit(0xed);
    }
    while (cpus_running == before)
        ;
}
