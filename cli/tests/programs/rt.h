/* A small runtime for bare-metal s390x test programs: console output
   through the SCLP (as QEMU's sclpconsole implements it), DAT tables,
   program-interruption hooks and the disabled-wait exit. */
#ifndef RT_H
#define RT_H

typedef unsigned long u64;
typedef unsigned int u32;
typedef unsigned short u16;
typedef unsigned char u8;
typedef long i64;
typedef unsigned long size_t;

/* Problem sizes are multiplied by SCALE (1 for the tests, larger for the
   benchmark). */
#ifndef SCALE
#define SCALE 1
#endif

/* Storage layout (absolute = real, prefix 0), all of it mapped virtual =
   real in every space the runtime builds: 0x00000-0x01fff lowcore,
   0x20000.. the program, RT_POOL.. DAT tables, RT_FRAMES..RT_IDENTITY_END
   frames handed out by rt_frame() for remapping. */
#define RT_IDENTITY_END 0x2000000UL  /* 32 MiB mapped virtual = real */
#define RT_POOL         0x0c00000UL
#define RT_FRAMES       0x1000000UL  /* up to RT_IDENTITY_END */

#define PAGE_SIZE 4096UL
#define SEG_INVALID 0x20UL
#define PTE_INVALID 0x400UL
#define PTE_PROTECT 0x200UL

/* Console. Output is buffered per line. */
void rt_putc(char c);
void rt_puts(const char *s);
void rt_printf(const char *fmt, ...);
void rt_flush(void);
void rt_exit(u64 code) __attribute__((noreturn));

/* DAT. An address space is a segment table (TL 0: 512 MiB) whose first
   16 MiB map virtual = real through page tables shared by every space. */
u64 rt_space_new(void);            /* returns the ASCE */
void rt_map(u64 asce, u64 va, u64 frame, u64 flags);  /* flags: PTE bits */
u64 *rt_pte(u64 asce, u64 va);     /* the PTE (page table made if needed) */
u64 *rt_ste(u64 asce, u64 va);     /* the segment-table entry */
u64 rt_frame(void);                /* a zeroed frame outside the identity map */
void *rt_table(u64 bytes);         /* zeroed, aligned table storage */
extern u64 rt_primary;             /* CR1 after rt_init */


/* Multiprocessing. */
#define RT_MAX_CPUS 8
/* SIGNAL PROCESSOR: the condition code; with cc 1 the status in *status
   (if not null). */
int rt_sigp(u16 cpu, u8 order, u64 parameter, u32 *status);
/* The executing CPU's address (STAP). */
u16 rt_cpu_address(void);
/* The number of CPUs: addresses 0, 1, ... up to the first that is not
   operational. */
int rt_cpu_count(void);
/* Starts the stopped CPU `cpu` (1 .. RT_MAX_CPUS - 1) in `entry` with DAT
   on in the runtime's space, on its own stack and prefix area (SIGP SET
   PREFIX, then RESTART); returns once it runs. `entry` must not return:
   it ends with rt_cpu_stop(). */
void rt_cpu_start(int cpu, void (*entry)(void));
/* SIGP STOP to the executing CPU. */
void rt_cpu_stop(void) __attribute__((noreturn));

#define LCTLG(n, v) do { u64 _v = (v); __asm__ volatile("lctlg %%c" #n ",%%c" #n ",%0" :: "Q"(_v) : "memory"); } while (0)
#define STCTG(n) ({ u64 _v; __asm__ volatile("stctg %%c" #n ",%%c" #n ",%0" : "=Q"(_v) :: "memory"); _v; })

static inline void rt_ipte(u64 pto, u64 va)
{
    __asm__ volatile("ipte %0,%1" :: "a"(pto), "a"(va) : "memory");
}

static inline void rt_idte(u64 table_asce, u64 index_va)
{
    __asm__ volatile(".insn rrf,0xb98e0000,%0,%1,0,0" :: "a"(table_asce), "a"(index_va) : "memory");
}

static inline void rt_ptlb(void)
{
    __asm__ volatile("ptlb" ::: "memory");
}

/* Real-storage access to the lowcore (identity mapped, so plain loads). */
static inline u64 rt_lowcore64(u64 off)
{
    u64 v;
    __asm__ volatile("lg %0,0(%1)" : "=d"(v) : "a"(off) : "memory");
    return v;
}

/* Program interruptions: a handler returns nonzero when it resolved the
   exception (execution resumes at the old PSW, which for a nullified
   exception is the faulting instruction). With no handler, or when it
   returns 0, the program prints the interruption and exits with 0xee. */
typedef int (*rt_pgm_handler)(u16 code, u64 teid, u64 *old_psw);
void rt_on_program_interrupt(rt_pgm_handler h);

/* Supervisor calls: the handler gets the SVC number, the ILC and the
   sixteen general registers of the caller, which it may change (the
   caller resumes with them after the SVC). Without a handler an SVC prints
   and exits with 0xef. */
typedef void (*rt_svc_handler)(u16 code, u8 ilc, u64 *regs);
void rt_on_supervisor_call(rt_svc_handler h);

/* Small helpers for programs. */
void *memcpy(void *d, const void *s, size_t n);
void *memset(void *d, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);
u64 rt_rand(void);
void rt_srand(u64 seed);

#endif
