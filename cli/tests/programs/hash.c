/* An open-addressing hash table: inserts, lookups, deletions with
   tombstones, 2^17 (times SCALE) slots of 16 bytes. */
#include "rt.h"

#define SLOTS ((1UL << 17) * SCALE)
#define EMPTY 0
#define DELETED 1

struct slot { u64 key, value; };
static struct slot table[SLOTS];
static u64 probes;

static u64 hash(u64 k)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdUL;
    k ^= k >> 33;
    return k;
}

static void insert(u64 key, u64 value)
{
    u64 i = hash(key) & (SLOTS - 1), tomb = ~0UL;
    for (;; i = (i + 1) & (SLOTS - 1), probes++) {
        if (table[i].key == key) { table[i].value = value; return; }
        if (table[i].key == DELETED && tomb == ~0UL) tomb = i;
        if (table[i].key == EMPTY) break;
    }
    if (tomb != ~0UL) i = tomb;
    table[i].key = key;
    table[i].value = value;
}

static struct slot *find(u64 key)
{
    for (u64 i = hash(key) & (SLOTS - 1);; i = (i + 1) & (SLOTS - 1), probes++) {
        if (table[i].key == key) return &table[i];
        if (table[i].key == EMPTY) return 0;
    }
}

int main(void)
{
    const u64 n = 60000 * SCALE;
    rt_srand(777);
    for (u64 i = 0; i < n; i++)
        insert((rt_rand() | 2), i);
    rt_srand(777);
    u64 found = 0, sum = 0;
    for (u64 i = 0; i < n; i++) {
        struct slot *s = find(rt_rand() | 2);
        if (s) found++, sum += s->value;
        if (s && (i & 1)) s->key = DELETED;
    }
    u64 live = 0;
    for (u64 i = 0; i < SLOTS; i++)
        live += table[i].key > DELETED;
    u64 missing = 0;
    for (u64 i = 0; i < 20000; i++)
        missing += !find(hash(i) | 2 | (1UL << 63));
    rt_printf("found %lu of %lu, value sum %lu, live %lu\n", found, n, sum, live);
    rt_printf("absent keys confirmed: %lu, probes: %lu\n", missing, probes);
    return found == n && live == n - n / 2 ? 0 : 1;
}
