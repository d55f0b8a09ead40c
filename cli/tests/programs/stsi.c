/* STORE SYSTEM INFORMATION and STORE CPU ID as the machine answers them:
   the current configuration level, the condition code of every function
   code and selector pair, and the fields of the blocks it stores (basic
   machine 1.1.1, 1.2.1, 1.2.2; logical partition 2.2.1, 2.2.2; virtual
   machine 3.2.2). */
#include "rt.h"

static u8 block[PAGE_SIZE] __attribute__((aligned(PAGE_SIZE)));

/* STSI with function code fc and selectors sel1, sel2; returns the cc and
   leaves R0 in *r0. */
static int stsi(void *addr, u64 fc, u64 sel1, u64 sel2, u64 *r0)
{
    register u64 r0_ __asm__("0") = (fc << 28) | sel1;
    register u64 r1_ __asm__("1") = sel2;
    int cc;
    __asm__ volatile("stsi 0(%3)\n ipm %1\n srl %1,28"
                     : "+d"(r0_), "=d"(cc) : "d"(r1_), "a"(addr) : "cc", "memory");
    *r0 = r0_;
    return cc;
}

/* EBCDIC letters, digits, blank and '/' back to ASCII ('?' otherwise). */
static char ascii(u8 c)
{
    static const char *upper = "ABCDEFGHI" "JKLMNOPQR" "STUVWXYZ";
    static const char *lower = "abcdefghi" "jklmnopqr" "stuvwxyz";
    if (c == 0x40) return ' ';
    if (c == 0x61) return '/';
    if (c == 0x60) return '-';
    if (c >= 0xf0 && c <= 0xf9) return '0' + (c - 0xf0);
    if (c >= 0xc1 && c <= 0xc9) return upper[c - 0xc1];
    if (c >= 0xd1 && c <= 0xd9) return upper[9 + c - 0xd1];
    if (c >= 0xe2 && c <= 0xe9) return upper[18 + c - 0xe2];
    if (c >= 0x81 && c <= 0x89) return lower[c - 0x81];
    if (c >= 0x91 && c <= 0x99) return lower[9 + c - 0x91];
    if (c >= 0xa2 && c <= 0xa9) return lower[18 + c - 0xa2];
    return c ? '?' : '.';
}

static void text(const char *name, u32 off, u32 len)
{
    rt_printf("  %s [%x]: '", name, off);
    for (u32 i = 0; i < len; i++)
        rt_putc(ascii(block[off + i]));
    rt_printf("'\n");
}

static u32 be(u32 off, u32 len)
{
    u32 v = 0;
    for (u32 i = 0; i < len; i++)
        v = (v << 8) | block[off + i];
    return v;
}

static void number(const char *name, u32 off, u32 len)
{
    rt_printf("  %s [%x]: %x\n", name, off, be(off, len));
}

/* Every nonzero byte of the block outside the fields printed, so that
   nothing stored goes unnoticed. */
static void others(const u32 (*fields)[2], int n)
{
    for (u32 i = 0; i < PAGE_SIZE; i++) {
        int named = 0;
        for (int f = 0; f < n; f++)
            if (i >= fields[f][0] && i < fields[f][0] + fields[f][1])
                named = 1;
        if (!named && block[i])
            rt_printf("  other byte [%x]: %x\n", i, block[i]);
    }
}

static int store(u64 fc, u64 sel1, u64 sel2)
{
    u64 r0;
    for (u32 i = 0; i < PAGE_SIZE; i++)
        block[i] = 0x55;
    int cc = stsi(block, fc, sel1, sel2, &r0);
    rt_printf("STSI %u.%u.%u: cc %d\n", (u32)fc, (u32)sel1, (u32)sel2, cc);
    return cc;
}

int main(void)
{
    u64 r0, id;

    int cc = stsi(block, 0, 0, 0, &r0);
    rt_printf("STSI 0: cc %d, current level %u\n", cc, (u32)(r0 >> 28));

    for (u64 fc = 1; fc <= 15; fc++)
        for (u64 sel1 = 0; sel1 <= 3; sel1++)
            for (u64 sel2 = 0; sel2 <= 3; sel2++) {
                u64 r;
                int c = stsi(block, fc, sel1, sel2, &r);
                if (c != 3)
                    rt_printf("STSI %u.%u.%u: cc %d\n", (u32)fc, (u32)sel1, (u32)sel2, c);
            }

    if (!store(1, 1, 1)) {
        static const u32 f[][2] = { {32, 16}, {48, 4}, {64, 16}, {80, 16}, {96, 4}, {100, 16} };
        text("manufacturer", 32, 16);
        text("type", 48, 4);
        text("model capacity", 64, 16);
        text("sequence", 80, 16);
        text("plant", 96, 4);
        text("model", 100, 16);
        for (u32 i = 0; i < PAGE_SIZE; i++)
            if (block[i] == 0x55) {
                rt_printf("  not stored from [%x]\n", i);
                break;
            }
        others(f, 6);
    }
    if (!store(1, 2, 1)) {
        static const u32 f[][2] = { {80, 16}, {96, 4}, {102, 2} };
        text("sequence", 80, 16);
        text("plant", 96, 4);
        number("cpu address", 102, 2);
        others(f, 3);
    }
    if (!store(1, 2, 2)) {
        static const u32 f[][2] = { {0, 1}, {28, 4}, {32, 4}, {36, 2}, {38, 2}, {40, 2}, {42, 2} };
        number("format", 0, 1);
        number("secondary capability", 28, 4);
        number("capability", 32, 4);
        number("total cpus", 36, 2);
        number("configured cpus", 38, 2);
        number("standby cpus", 40, 2);
        number("reserved cpus", 42, 2);
        others(f, 7);
    }
    if (!store(2, 2, 1)) {
        static const u32 f[][2] = { {80, 16}, {96, 4}, {102, 2} };
        text("sequence", 80, 16);
        text("plant", 96, 4);
        number("cpu address", 102, 2);
        others(f, 3);
    }
    if (!store(2, 2, 2)) {
        static const u32 f[][2] = { {32, 2}, {34, 1}, {35, 1}, {36, 2}, {38, 2}, {40, 2},
                                    {42, 2}, {44, 8}, {52, 4}, {56, 16}, {72, 2}, {74, 2} };
        number("lpar number", 32, 2);
        number("characteristics", 35, 1);
        number("total cpus", 36, 2);
        number("configured cpus", 38, 2);
        number("standby cpus", 40, 2);
        number("reserved cpus", 42, 2);
        text("name", 44, 8);
        number("capability adjustment", 52, 4);
        number("dedicated cpus", 72, 2);
        number("shared cpus", 74, 2);
        others(f, 12);
    }
    if (!store(3, 2, 2)) {
        static const u32 f[][2] = { {31, 1}, {36, 2}, {38, 2}, {40, 2}, {42, 2}, {44, 8},
                                    {52, 4}, {56, 16}, {75, 1}, {80, 16}, {2048, 256} };
        number("count", 31, 1);
        number("total cpus", 36, 2);
        number("configured cpus", 38, 2);
        number("standby cpus", 40, 2);
        number("reserved cpus", 42, 2);
        text("name", 44, 8);
        number("capability adjustment", 52, 4);
        text("control program", 56, 16);
        number("extended name encoding", 75, 1);
        number("uuid 0-3", 80, 4);
        number("uuid 4-7", 84, 4);
        number("uuid 8-11", 88, 4);
        number("uuid 12-15", 92, 4);
        rt_printf("  extended name [800]: '");
        for (u32 i = 2048; i < 2048 + 256 && block[i]; i++)
            rt_putc(block[i]);
        rt_printf("'\n");
        others(f, 11);
    }

    __asm__ volatile("stidp %0" : "=Q"(id));
    rt_printf("STIDP: %x %x\n", (u32)(id >> 32), (u32)id);
    return 0;
}
