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
	u64 mask, addr, r2, r3, r4, cr0, probe_cr0, kind, r5, r7, r8, pad;
};
extern struct ctx ctx;
extern void run_snippet(void);
extern void sclp_wait(void);
extern char snip_read[], snip_write[], snip_fetch[], snip_sibling[],
	snip_lrag[], svc_entry[], pgm_entry[];

static u64 prefix;
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

void probe_main(void)
{
	const u64 *h = BLOB, *s;
	u64 i, n_ranges, f;

	load_cr(0, PROBE_CR0);
	set_prefix(0);
	RESULTS[0] = RESULTS_MAGIC;
	RESULTS[1] = 0;
	RESULTS[2] = 0;
	if (h[0] != BLOB_MAGIC || h[1] != 1) {
		RESULTS[2] = 0xbad;
		return;
	}
	console = h[2] & 1;
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
		s = run_scenario(i, s);
	RESULTS[2] = 1;
	if (console) {
		put_char('D');
		put_char('\n');
		console_flush();
	}
}
