/*
 * zmmu DAT probe: a bare-metal z/Architecture program that replays a batch of
 * scenarios written by `zmmu-vecgen` and records what the machine did for each
 * probe access. It never decides an outcome itself: it stores the
 * interruption code, TEID, old PSW, the tag read next to the accessed byte,
 * the LRAG result and the storage key of the observed frame.
 *
 * Layout (absolute storage, see README.md in this directory):
 *   0x000000-0x001fff  lowcore with prefix 0 (bytes 0x200 and up are tagged)
 *   0x002000-0x01ffff  tagged frames (prefix areas, low data frames)
 *   0x020000-0x02ffff  this program (0x20000: snippets run with DAT on)
 *   0x100000-0x1fffff  results
 *   0x200000-0x3fffff  batch blob
 *   0x400000-storage   scenario tables and tagged data frames
 *
 * Everything is big-endian u64. Blob: magic, version, flags (bit 0: print
 * results on the SCLP ASCII console), scenario count, storage size, number
 * of tag ranges, then (first frame, end frame) pairs, then the scenarios:
 * prefix, cr0, cr1, cr7, cr13, n_mem, n_keys, n_probes, the mem entries
 * (address, length, data padded to 8 bytes), the keys (address, key) and
 * the probes (address, space | amode << 8 | access << 16 | key << 24).
 *
 * Results: magic, record count, status (1 = done) and five reserved words,
 * then one record of REC_WORDS words per probe:
 *   0  scenario index << 32 | probe index
 *   1  kind << 56 | code: kind 1 = the snippet ended with SVC (code = SVC
 *      number), 2 = program interruption (code from real 0x8e), 3 = not run
 *      (an earlier store of the scenario hit a frame without tags)
 *   2  TEID (real 0xa8; TEID_SENTINEL if the machine stored none)
 *   3  old PSW address
 *   4  sibling doubleword (the tag) after a successful access
 *   5  kind << 56 | code of the sibling read of a fetch probe
 *   6  LRAG in the probe's space: kind << 56 | code << 32 | condition code
 *   7  LRAG R1
 *   8  0x100 | ISKE of the frame the tag names, or 0
 *   9  reserved
 *   10, 11  as 6, 7, in the space that translated the access (primary for
 *      an instruction fetch in secondary-space mode)
 */

typedef unsigned long u64;
typedef unsigned int u32;
typedef unsigned short u16;
typedef unsigned char u8;

#define BLOB ((const u64 *)0x200000UL)
#define RESULTS ((volatile u64 *)0x100000UL)
#define BLOB_MAGIC 0x7a6d6d7570726f62UL
#define RESULTS_MAGIC 0x7a6d6d75726573UL
#define REC_WORDS 12
#define MAX_RECORDS ((0x100000 - 64) / (REC_WORDS * 8))
#define TEID_SENTINEL 0xfeedfacecafebeefUL
#define PROBE_CR0 0xe0UL

enum { SP_PRIMARY, SP_SECONDARY, SP_HOME, SP_REAL };
enum { AC_FETCH, AC_READ, AC_WRITE };

struct ctx {
	u64 mask, addr, r2, r3, r4, cr0, probe_cr0, kind, r5, r7, r8, pad, r10,
		r11;
};
extern struct ctx ctx;
extern void run_snippet(void);
extern void sclp_wait(void);
extern char snip_read[], snip_write[], snip_fetch[], snip_sibling[],
	snip_lrag[], svc_entry[], pgm_entry[];
extern char snip_r1[], snip_r2[], snip_r4[], snip_r8[], snip_r16[],
	snip_w1[], snip_w2[], snip_w4[], snip_w8[], snip_w16[], snip_tprot[],
	snip_lra[], snip_lray[], snip_strag[], snip_lptea0[], snip_lptea2[],
	snip_lptea3[], snip_ipte[], snip_ipte_l[], snip_ipte_r[], snip_ipte_rl[],
	snip_idte[], snip_idte_l[], snip_csp[], snip_cspg[], snip_sske0[],
	snip_sske8[], snip_rrbe[], snip_spx[], snip_scratch[];

static u64 prefix;
static u64 h_storage;
static u64 n_records;
static int console;

/* ---- machine helpers (all run with DAT off, key 0) ---- */

static void set_prefix(u64 p)
{
	u32 v = (u32)p;
	asm volatile("spx %0" : : "Q"(v) : "memory");
	prefix = p;
}

static void ptlb(void)
{
	asm volatile("ptlb" : : : "memory");
}

static void sske(u64 addr, u64 key)
{
	asm volatile("sske %0,%1" : : "d"(key), "a"(addr) : "memory");
}

static u64 iske(u64 addr)
{
	u64 key = 0;
	asm volatile("iske %0,%1" : "+d"(key) : "a"(addr));
	return key & 0xff;
}

static void load_cr(int which, u64 value)
{
	switch (which) {
	case 1:
		asm volatile("lctlg 1,1,%0" : : "Q"(value));
		break;
	case 7:
		asm volatile("lctlg 7,7,%0" : : "Q"(value));
		break;
	case 13:
		asm volatile("lctlg 13,13,%0" : : "Q"(value));
		break;
	default:
		asm volatile("lctlg 0,0,%0" : : "Q"(value));
		break;
	}
}

static void store_lowcore_psw(u64 at, u64 mask, u64 addr)
{
	*(volatile u64 *)at = mask;
	*(volatile u64 *)(at + 8) = addr;
}

/* The real address whose absolute address is `abs` (prefixing swaps). */
static u64 real_of_abs(u64 abs)
{
	if (prefix == 0)
		return abs;
	if (abs < 0x2000)
		return abs + prefix;
	if (abs >= prefix && abs < prefix + 0x2000)
		return abs - prefix;
	return abs;
}

/* ---- tags ---- */

static u64 tag_of(u64 frame)
{
	return (0x5aUL << 48) | (((frame >> 16) & 0xff) << 32) |
	       (((frame >> 8) & 0xff) << 16) | (frame & 0xff);
}

static int tag_valid(u64 v)
{
	return (v & 0xff00ff00ff00ff00UL) == 0 && ((v >> 48) & 0xff) == 0x5a;
}

static u64 tag_frame_of(u64 v)
{
	return (((v >> 32) & 0xff) << 16) | (((v >> 16) & 0xff) << 8) |
	       (v & 0xff);
}

/* Tags one frame; prefix must be 0. Frame 0 keeps its lowcore (0-0x1ff). */
static void tag_frame(u64 frame)
{
	volatile u64 *p = (volatile u64 *)(frame << 12);
	u64 tag = tag_of(frame);
	unsigned i = frame == 0 ? 0x200 / 8 : 0;

	for (; i < 512; i++)
		p[i] = tag;
}

static void zero_frame(u64 frame)
{
	volatile u64 *p = (volatile u64 *)(frame << 12);
	unsigned i;

	for (i = 0; i < 512; i++)
		p[i] = 0;
}

/* ---- SCLP ASCII console (QEMU) ---- */

static u8 sccb[4096] __attribute__((aligned(4096)));
static char line_buf[3072];
static unsigned line_len;

static void servc(u32 cmd)
{
	int cc;

	load_cr(0, PROBE_CR0 | 0x200);
	asm volatile(".insn rre,0xb2200000,%1,%2\n\tipm %0\n\tsrl %0,28"
		     : "=&d"(cc)
		     : "d"(cmd), "a"(sccb)
		     : "cc", "memory");
	if (cc == 0)
		sclp_wait();
	load_cr(0, PROBE_CR0);
}

static void fill(void *dst, int c, unsigned long n)
{
	volatile u8 *d = dst;

	while (n--)
		*d++ = (u8)c;
}

static void console_init(void)
{
	fill(sccb, 0, sizeof(sccb));
	*(u16 *)&sccb[0] = 32;		/* length */
	*(u16 *)&sccb[10] = 4;		/* mask length */
	*(u32 *)&sccb[12] = 0x40;	/* cp receive mask: ASCII */
	*(u32 *)&sccb[16] = 0x40;	/* cp send mask: ASCII */
	servc(0x00780005);
}

static void console_flush(void)
{
	unsigned i;

	if (!line_len)
		return;
	fill(sccb, 0, 16 + line_len);
	*(u16 *)&sccb[0] = 8 + 6 + line_len;	/* SCCB length */
	*(u16 *)&sccb[8] = 6 + line_len;	/* event buffer length */
	sccb[10] = 0x1a;			/* ASCII console data */
	for (i = 0; i < line_len; i++)
		sccb[14 + i] = (u8)line_buf[i];
	servc(0x00760005);
	line_len = 0;
}

static void put_char(char c)
{
	if (line_len == sizeof(line_buf))
		console_flush();
	line_buf[line_len++] = c;
}

static void put_hex(u64 v)
{
	int i;

	for (i = 60; i >= 0; i -= 4)
		put_char("0123456789abcdef"[(v >> i) & 0xf]);
}

static void print_records(u64 from, u64 to)
{
	u64 r;
	int w;

	for (r = from; r < to; r++) {
		volatile u64 *rec = RESULTS + 8 + r * REC_WORDS;

		put_char('R');
		for (w = 0; w < REC_WORDS; w++) {
			put_char(' ');
			put_hex(rec[w]);
		}
		put_char('\n');
		if (line_len > sizeof(line_buf) - 200)
			console_flush();
	}
	console_flush();
}

/* ---- probing ---- */

static u64 psw_mask(u64 space, u64 amode, u64 key)
{
	u64 m = key << 52;

	if (space != SP_REAL)
		m |= 0x0400000000000000UL;
	if (space == SP_SECONDARY)
		m |= 0x0000800000000000UL;
	if (space == SP_HOME)
		m |= 0x0000c00000000000UL;
	if (amode == 64)
		m |= 0x180000000UL;
	else if (amode == 31)
		m |= 0x80000000UL;
	return m;
}

struct outcome {
	u64 kind, pic, teid, old_addr, r5, r7, r8;
};

static void run(u64 mask, const char *snippet, u64 r2, u64 r3,
		struct outcome *o)
{
	*(volatile u64 *)0xa8 = TEID_SENTINEL;
	*(volatile u32 *)0x8c = 0;
	ctx.mask = mask;
	ctx.addr = (u64)snippet;
	ctx.r2 = r2;
	ctx.r3 = r3;
	ctx.r4 = 0;
	ctx.r10 = 0;
	ctx.r11 = 0;
	run_snippet();
	o->kind = ctx.kind;
	o->r5 = ctx.r5;
	o->r7 = ctx.r7;
	o->r8 = ctx.r8;
	if (ctx.kind == 2) {
		o->pic = *(volatile u16 *)0x8e;
		o->teid = *(volatile u64 *)0xa8;
		o->old_addr = *(volatile u64 *)0x158;
	} else {
		o->pic = *(volatile u16 *)0x8a;
		o->teid = TEID_SENTINEL;
		o->old_addr = *(volatile u64 *)0x148;
	}
}

static u64 wrap(u64 addr, u64 amode)
{
	if (amode == 24)
		return addr & 0xffffff;
	if (amode == 31)
		return addr & 0x7fffffff;
	return addr;
}

/* Runs one probe and fills its record; returns 1 if the scenario is
 * tainted (a store landed on a frame without tags). */
static int probe(u64 addr, u64 desc, volatile u64 *rec)
{
	u64 space = desc & 0xff, amode = (desc >> 8) & 0xff;
	u64 access = (desc >> 16) & 0xff, key = (desc >> 24) & 0xff;
	u64 mask = psw_mask(space, amode, key);
	/* An instruction fetch in secondary-space mode is translated with the
	 * primary ASCE: observe its frame and real address in primary mode. */
	u64 fetch_mask = space == SP_SECONDARY && access == AC_FETCH
				 ? psw_mask(SP_PRIMARY, amode, key)
				 : mask;
	u64 sibling = (addr & ~0xfUL) | ((addr & 8) ^ 8);
	const char *snip = access == AC_FETCH  ? snip_fetch
			   : access == AC_READ ? snip_read
					       : snip_write;
	struct outcome a, s, l;
	u64 tag = 0, sib_status = 0, key_after = 0;
	int ok = 0;

	run(mask, snip, addr, sibling, &a);
	rec[1] = a.kind << 56 | a.pic;
	rec[2] = a.teid;
	rec[3] = a.old_addr;
	if (access == AC_FETCH) {
		if (a.kind == 2 && a.pic == 1 &&
		    a.old_addr == wrap(addr + 2, amode)) {
			run(fetch_mask, snip_sibling, addr, sibling, &s);
			sib_status = s.kind << 56 | s.pic;
			if (s.kind == 1) {
				tag = s.r5;
				ok = 1;
			}
		}
	} else if (a.kind == 1) {
		tag = a.r5;
		ok = 1;
	}
	rec[4] = tag;
	rec[5] = sib_status;
	if (ok && tag_valid(tag))
		key_after = 0x100 | iske(real_of_abs(tag_frame_of(tag) << 12));
	rec[8] = key_after;
	rec[6] = rec[7] = rec[9] = rec[10] = rec[11] = 0;
	if (space != SP_REAL) {
		run(mask, snip_lrag, addr, sibling, &l);
		rec[6] = l.kind << 56 | l.pic << 32 | ((l.r8 >> 28) & 3);
		rec[7] = l.r7;
		if (fetch_mask != mask)
			run(fetch_mask, snip_lrag, addr, sibling, &l);
		rec[10] = l.kind << 56 | l.pic << 32 | ((l.r8 >> 28) & 3);
		rec[11] = l.r7;
	}
	return ok && access == AC_WRITE && !tag_valid(tag);
}

static u64 dirty[1024];
static unsigned n_dirty;

static void mark_dirty(u64 frame)
{
	unsigned i;

	for (i = 0; i < n_dirty; i++)
		if (dirty[i] == frame)
			return;
	if (n_dirty < sizeof(dirty) / sizeof(dirty[0]))
		dirty[n_dirty++] = frame;
}

static const u64 *run_scenario(u64 index, const u64 *s)
{
	u64 p = s[0], cr0 = s[1], n_mem = s[5], n_keys = s[6];
	u64 n_probes = s[7], i, first = n_records;
	const u64 *m = s + 8;
	u64 table_frames[256];
	unsigned n_tables = 0, t;
	int tainted = 0;

	/* storage: zero every frame that mem touches, then write mem */
	for (i = 0; i < n_mem; i++) {
		u64 addr = m[0], len = m[1], f;

		for (f = addr >> 12; f <= (addr + len - 1) >> 12; f++) {
			for (t = 0; t < n_tables; t++)
				if (table_frames[t] == f)
					break;
			if (t == n_tables && n_tables < 256) {
				table_frames[n_tables++] = f;
				zero_frame(f);
			}
		}
		m += 2 + (len + 7) / 8;
	}
	m = s + 8;
	for (i = 0; i < n_mem; i++) {
		u64 addr = m[0], len = m[1], b;
		const u8 *src = (const u8 *)(m + 2);

		for (b = 0; b < len; b++)
			*(volatile u8 *)(addr + b) = src[b];
		m += 2 + (len + 7) / 8;
	}

	set_prefix(p);
	ptlb();
	store_lowcore_psw(0x1c0, 0x0000000180000000UL, (u64)svc_entry);
	store_lowcore_psw(0x1d0, 0x0000000180000000UL, (u64)pgm_entry);
	/* keys last, so that the harness's own stores (console output, new
	 * PSWs) leave no R or C behind, except in the active lowcore, whose
	 * key the driver does not record */
	sske(real_of_abs(0), 0);
	sske(real_of_abs(0x1000), 0);
	for (i = 0; i < n_keys; i++) {
		sske(real_of_abs(m[0]), m[1]);
		mark_dirty(m[0] >> 12);
		m += 2;
	}
	load_cr(1, s[2]);
	load_cr(7, s[3]);
	load_cr(13, s[4]);
	ctx.cr0 = cr0;
	ctx.probe_cr0 = PROBE_CR0;

	for (i = 0; i < n_probes; i++, m += 2) {
		volatile u64 *rec;

		if (n_records >= MAX_RECORDS)
			break;
		rec = RESULTS + 8 + n_records * REC_WORDS;
		n_records++;
		rec[0] = index << 32 | i;
		if (tainted) {
			rec[1] = 3UL << 56;
			continue;
		}
		tainted = probe(m[0], m[1], rec);
		if (rec[8])
			mark_dirty(tag_frame_of(rec[4]));
	}
	RESULTS[1] = n_records;

	/* restore: prefix 0, tags, keys */
	set_prefix(0);
	ptlb();
	for (t = 0; t < n_tables; t++)
		tag_frame(table_frames[t]);
	if (p) {
		tag_frame(p >> 12);
		tag_frame((p >> 12) + 1);
		mark_dirty(p >> 12);
		mark_dirty((p >> 12) + 1);
	}
	mark_dirty(0);
	mark_dirty(1);
	for (t = 0; t < n_dirty; t++)
		sske(dirty[t] << 12, 0);
	n_dirty = 0;
	if (console)
		print_records(first, n_records);
	return m;
}


/* ---- format-2 scenarios: steps ----
 *
 * A scenario: prefix, cr0, cr1, cr7, cr13, n_mem, n_keys, n_steps, the mem
 * entries and keys as in version 1, then the steps, STEP_WORDS words each:
 * desc = op | space << 8 | amode << 16 | access << 24 | key << 32 |
 * size << 40 | option << 48, then four operands.
 *
 * Record of a step (REC_WORDS words):
 *   0  scenario index << 32 | step index
 *   1  kind << 56 | code (kinds as version 1; 4 = done by the harness)
 *   2  TEID, 3 old PSW address minus the snippet's start (program
 *   interruptions), 4 and 5 the tags next to the first and last byte,
 *   6/7 and 10/11 LRAG status and R1 for the first and the last byte,
 *   8 0x100 | ISKE of the frame named (access: the first tag's frame;
 *   SSKE, RRBE: the operand's frame), 9 the instruction's length << 8 |
 *   condition code (IPM), 11 for queries: R1 (LRA, LPTEA) or the stored
 *   doubleword (STRAG).
 */

#define STEP_WORDS 5
enum {
	OP_ACCESS = 1, OP_TPROT, OP_LRA, OP_STRAG, OP_LPTEA, OP_IPTE, OP_IDTE,
	OP_CSP, OP_PTLB, OP_SSKE, OP_RRBE, OP_SPX, OP_STORE, OP_LCTLG
};
#define DAT_OFF_MASK 0x0000000180000000UL

static u64 prefixes[16];
static unsigned n_prefixes;

static void remember_prefix(u64 p)
{
	unsigned i;

	for (i = 0; i < n_prefixes; i++)
		if (prefixes[i] == p)
			return;
	if (n_prefixes < 16)
		prefixes[n_prefixes++] = p;
}

/* The tag next to a byte: offset 0x400 or 0xc00 of its page, in the same
 * 2 KiB half (the fetch-protection override covers 0-2047 only); stores
 * never reach them. */
static u64 sibling_of(u64 addr, u64 amode)
{
	return wrap((addr & ~0xfffUL) | ((addr & 0x800) ? 0xc00 : 0x400), amode);
}

static const char *access_snippet(u64 access, u64 size)
{
	static char *const reads[] = { snip_r1, snip_r2, snip_r4, snip_r8,
				       snip_r16 };
	static char *const writes[] = { snip_w1, snip_w2, snip_w4, snip_w8,
					snip_w16 };
	unsigned i = size == 1 ? 0 : size == 2 ? 1 : size == 4 ? 2 :
		     size == 8 ? 3 : 4;

	return access == AC_READ ? reads[i] : writes[i];
}

static u64 insn_length(const char *snip)
{
	u8 op = *(const u8 *)snip;

	return op < 0x40 ? 2 : op < 0xc0 ? 4 : 6;
}

static void lrag_into(u64 mask, u64 addr, volatile u64 *status,
		      volatile u64 *r1)
{
	struct outcome l;

	run(mask, snip_lrag, addr, 0, &l);
	*status = l.kind << 56 | l.pic << 32 | ((l.r8 >> 28) & 3);
	*r1 = l.r7;
}

/* Runs a snippet for an operation or query and fills the common words. */
static void run_op(u64 mask, const char *snip, u64 r2, u64 r3, u64 r4,
		   volatile u64 *rec)
{
	struct outcome o;

	ctx.r2 = r2;
	*(volatile u64 *)0xa8 = TEID_SENTINEL;
	ctx.mask = mask;
	ctx.addr = (u64)snip;
	ctx.r3 = r3;
	ctx.r4 = r4;
	run_snippet();
	o.kind = ctx.kind;
	rec[1] = o.kind << 56 |
		 (o.kind == 2 ? *(volatile u16 *)0x8e : *(volatile u16 *)0x8a);
	rec[2] = o.kind == 2 ? *(volatile u64 *)0xa8 : TEID_SENTINEL;
	rec[3] = (o.kind == 2 ? *(volatile u64 *)0x158 : *(volatile u64 *)0x148) -
		 (u64)snip;
	rec[9] = insn_length(snip) << 8 | ((ctx.r8 >> 28) & 3);
	rec[11] = ctx.r7;
}

static int step_access(u64 addr, u64 desc, volatile u64 *rec)
{
	u64 space = (desc >> 8) & 0xff, amode = (desc >> 16) & 0xff;
	u64 access = (desc >> 24) & 0xff, key = (desc >> 32) & 0xff;
	u64 size = (desc >> 40) & 0xff;
	u64 mask = psw_mask(space, amode, key);
	u64 last = wrap(addr + size - 1, amode);
	u64 fetch_mask = space == SP_SECONDARY && access == AC_FETCH
				 ? psw_mask(SP_PRIMARY, amode, key)
				 : mask;
	struct outcome a, s;
	int ok = 0;

	if (access == AC_FETCH) {
		run(mask, snip_fetch, addr, 0, &a);
		rec[1] = a.kind << 56 | a.pic;
		rec[2] = a.teid;
		rec[3] = a.old_addr;
		rec[9] = 0;
		if (a.kind == 2 && a.pic == 1 &&
		    a.old_addr == wrap(addr + 2, amode)) {
			run(fetch_mask, snip_sibling, addr,
			    sibling_of(addr, amode), &s);
			rec[5] = s.kind << 56 | s.pic;
			if (s.kind == 1) {
				rec[4] = s.r5;
				ok = 1;
			}
		}
	} else {
		const char *snip = access_snippet(access, size);

		ctx.r10 = ctx.r11 = 0;
		run_op(mask, snip, addr, sibling_of(addr, amode),
		       sibling_of(last, amode), rec);
		rec[9] = insn_length(snip) << 8;
		if (ctx.kind == 1) {
			rec[4] = ctx.r5;
			rec[5] = ctx.r7;
			ok = 1;
		}
	}
	if (ok && tag_valid(rec[4]))
		rec[8] = 0x100 | iske(real_of_abs(tag_frame_of(rec[4]) << 12));
	if (space != SP_REAL) {
		lrag_into(fetch_mask, addr, &rec[6], &rec[7]);
		lrag_into(fetch_mask, last, &rec[10], &rec[11]);
	}
	return ok && access == AC_WRITE &&
	       (!tag_valid(rec[4]) || !tag_valid(rec[5]));
}

static void step_op(const u64 *st, volatile u64 *rec)
{
	u64 desc = st[0], op = desc & 0xff, space = (desc >> 8) & 0xff;
	u64 amode = (desc >> 16) & 0xff, key = (desc >> 32) & 0xff;
	u64 option = (desc >> 48) & 0xff;
	u64 mask = psw_mask(space, amode, 0);
	volatile u64 *scratch = (volatile u64 *)snip_scratch;

	switch (op) {
	case OP_TPROT:
		run_op(mask, snip_tprot, st[1], key << 4, 0, rec);
		break;
	case OP_LRA:
		run_op(mask, option == 0 ? snip_lra : option == 1 ? snip_lray
							       : snip_lrag,
		       st[1], 0, 0, rec);
		break;
	case OP_STRAG:
		scratch[0] = TEID_SENTINEL;
		run_op(mask, snip_strag, st[1], (u64)snip_scratch, 0, rec);
		rec[11] = scratch[0];
		break;
	case OP_LPTEA:
		run_op(DAT_OFF_MASK, option == 2 ? snip_lptea2 : option == 3 ?
			snip_lptea3 : snip_lptea0, st[1], 0, 0, rec);
		break;
	case OP_IPTE:
		run_op(DAT_OFF_MASK,
		       st[3] ? (option ? snip_ipte_rl : snip_ipte_r)
			     : (option ? snip_ipte_l : snip_ipte),
		       st[1], st[2], st[3], rec);
		break;
	case OP_IDTE:
		run_op(DAT_OFF_MASK, option ? snip_idte_l : snip_idte, st[1],
		       st[2], st[3], rec);
		break;
	case OP_CSP:
		ctx.r10 = st[2];
		ctx.r11 = st[3];
		run_op(DAT_OFF_MASK, (option & 8) ? snip_cspg : snip_csp,
		       st[1] | (option & 1), 0, 0, rec);
		break;
	case OP_SSKE:
		run_op(DAT_OFF_MASK, option == 8 ? snip_sske8 : snip_sske0, st[1],
		       st[2], 0, rec);
		rec[8] = 0x100 | iske(st[1]);
		break;
	case OP_RRBE:
		run_op(DAT_OFF_MASK, snip_rrbe, st[1], 0, 0, rec);
		rec[8] = 0x100 | iske(st[1]);
		break;
	case OP_SPX: {
		u64 p = st[1] & 0x7fffe000UL;

		/* the new lowcore needs the harness's new PSWs before SPX:
		 * the SVC that ends the snippet is taken through it */
		if (p + 0x2000 <= h_storage) {
			store_lowcore_psw(real_of_abs(p + 0x1c0),
					  DAT_OFF_MASK, (u64)svc_entry);
			store_lowcore_psw(real_of_abs(p + 0x1d0),
					  DAT_OFF_MASK, (u64)pgm_entry);
		}
		scratch[0] = st[1] << 32;
		run_op(DAT_OFF_MASK, snip_spx, (u64)snip_scratch, 0, 0, rec);
		if (ctx.kind == 1) {
			prefix = p;
			remember_prefix(p);
		}
		break;
	}
	case OP_PTLB:
		ptlb();
		rec[1] = 4UL << 56;
		break;
	case OP_STORE:
		*(volatile u64 *)real_of_abs(st[1]) = st[2];
		rec[1] = 4UL << 56;
		break;
	case OP_LCTLG:
		if (st[1] == 0)
			ctx.cr0 = st[2];
		else
			load_cr((int)st[1], st[2]);
		rec[1] = 4UL << 56;
		break;
	default:
		rec[1] = 5UL << 56;
		break;
	}
}

static const u64 *run_scenario2(u64 index, const u64 *s)
{
	u64 p = s[0], cr0 = s[1], n_mem = s[5], n_keys = s[6];
	u64 n_steps = s[7], i, first = n_records;
	const u64 *m = s + 8;
	u64 table_frames[256];
	unsigned n_tables = 0, t;
	int tainted = 0;

	for (i = 0; i < n_mem; i++) {
		u64 addr = m[0], len = m[1], f;

		for (f = addr >> 12; f <= (addr + len - 1) >> 12; f++) {
			for (t = 0; t < n_tables; t++)
				if (table_frames[t] == f)
					break;
			if (t == n_tables && n_tables < 256) {
				table_frames[n_tables++] = f;
				zero_frame(f);
			}
		}
		m += 2 + (len + 7) / 8;
	}
	m = s + 8;
	for (i = 0; i < n_mem; i++) {
		u64 addr = m[0], len = m[1], b;
		const u8 *src = (const u8 *)(m + 2);

		for (b = 0; b < len; b++)
			*(volatile u8 *)(addr + b) = src[b];
		m += 2 + (len + 7) / 8;
	}

	n_prefixes = 0;
	remember_prefix(p);
	set_prefix(p);
	ptlb();
	store_lowcore_psw(0x1c0, DAT_OFF_MASK, (u64)svc_entry);
	store_lowcore_psw(0x1d0, DAT_OFF_MASK, (u64)pgm_entry);
	sske(real_of_abs(0), 0);
	sske(real_of_abs(0x1000), 0);
	for (i = 0; i < n_keys; i++) {
		sske(real_of_abs(m[0]), m[1]);
		mark_dirty(m[0] >> 12);
		m += 2;
	}
	load_cr(1, s[2]);
	load_cr(7, s[3]);
	load_cr(13, s[4]);
	ctx.cr0 = cr0;
	ctx.probe_cr0 = PROBE_CR0;

	for (i = 0; i < n_steps; i++, m += STEP_WORDS) {
		volatile u64 *rec;
		unsigned w;

		if (n_records >= MAX_RECORDS)
			break;
		rec = RESULTS + 8 + n_records * REC_WORDS;
		n_records++;
		for (w = 0; w < REC_WORDS; w++)
			rec[w] = 0;
		rec[0] = index << 32 | i;
		if (tainted) {
			rec[1] = 3UL << 56;
			continue;
		}
		if ((m[0] & 0xff) == OP_ACCESS) {
			tainted = step_access(m[1], m[0], rec);
			if (rec[8])
				mark_dirty(tag_frame_of(rec[4]));
		} else {
			step_op(m, rec);
			if (rec[8])
				mark_dirty(real_of_abs(m[1]) >> 12);
		}
	}
	RESULTS[1] = n_records;

	/* restore: prefix 0, tags, keys, the control registers */
	set_prefix(0);
	ptlb();
	for (t = 0; t < n_tables; t++)
		tag_frame(table_frames[t]);
	for (t = 0; t < n_prefixes; t++) {
		if (prefixes[t] == 0 || prefixes[t] + 0x2000 > h_storage)
			continue;
		tag_frame(prefixes[t] >> 12);
		tag_frame((prefixes[t] >> 12) + 1);
		mark_dirty(prefixes[t] >> 12);
		mark_dirty((prefixes[t] >> 12) + 1);
	}
	mark_dirty(0);
	mark_dirty(1);
	for (t = 0; t < n_dirty; t++)
		sske(dirty[t] << 12, 0);
	n_dirty = 0;
	if (console)
		print_records(first, n_records);
	return m;
}

void probe_main(void)
{
	const u64 *h = BLOB, *s;
	u64 i, n_ranges, f;

	load_cr(0, PROBE_CR0);
	set_prefix(0);
	RESULTS[0] = RESULTS_MAGIC;
	RESULTS[1] = 0;
	RESULTS[2] = 0;
	if (h[0] != BLOB_MAGIC || (h[1] != 1 && h[1] != 2)) {
		RESULTS[2] = 0xbad;
		return;
	}
	console = h[2] & 1;
	h_storage = h[4];
	n_ranges = h[5];
	for (i = 0; i < n_ranges; i++)
		for (f = h[6 + 2 * i]; f < h[7 + 2 * i]; f++) {
			tag_frame(f);
			sske(f << 12, 0);
		}
	if (console)
		console_init();
	s = h + 6 + 2 * n_ranges;
	for (i = 0; i < h[3]; i++)
		s = h[1] == 2 ? run_scenario2(i, s) : run_scenario(i, s);
	RESULTS[2] = 1;
	if (console) {
		put_char('D');
		put_char('\n');
		console_flush();
	}
}
