/* Quicksort and merge sort of 30000 (times SCALE) pseudo-random 64-bit
   keys. */
#include "rt.h"

#define N (30000 * SCALE)
static u64 a[N], b[N], tmp[N];

static void quicksort(u64 *v, i64 lo, i64 hi)
{
    while (lo < hi) {
        u64 pivot = v[lo + (hi - lo) / 2];
        i64 i = lo, j = hi;
        while (i <= j) {
            while (v[i] < pivot) i++;
            while (v[j] > pivot) j--;
            if (i <= j) {
                u64 t = v[i]; v[i] = v[j]; v[j] = t;
                i++, j--;
            }
        }
        if (j - lo < hi - i) {
            quicksort(v, lo, j);
            lo = i;
        } else {
            quicksort(v, i, hi);
            hi = j;
        }
    }
}

static void mergesort(u64 *v, u64 n)
{
    for (u64 width = 1; width < n; width *= 2) {
        for (u64 lo = 0; lo < n; lo += 2 * width) {
            u64 mid = lo + width < n ? lo + width : n;
            u64 hi = lo + 2 * width < n ? lo + 2 * width : n;
            u64 i = lo, j = mid, k = lo;
            while (i < mid && j < hi)
                tmp[k++] = v[i] <= v[j] ? v[i++] : v[j++];
            while (i < mid) tmp[k++] = v[i++];
            while (j < hi) tmp[k++] = v[j++];
        }
        memcpy(v, tmp, n * sizeof(u64));
    }
}

int main(void)
{
    u64 sum = 0;
    rt_srand(12345);
    for (u64 i = 0; i < N; i++) {
        a[i] = rt_rand();
        b[i] = a[i] >> 20;
        sum += a[i];
    }
    quicksort(a, 0, N - 1);
    mergesort(b, N);
    int ok = 1;
    u64 check = 0;
    for (u64 i = 0; i < N; i++) {
        if (i && (a[i - 1] > a[i] || b[i - 1] > b[i]))
            ok = 0;
        check += a[i];
        if ((a[i] >> 20) != b[i])
            ok = 0;
    }
    rt_printf("sorted %d keys: %s\n", N, ok && check == sum ? "ok" : "WRONG");
    rt_printf("min %016lx median %016lx max %016lx\n", a[0], a[N / 2], a[N - 1]);
    return ok ? 0 : 1;
}
