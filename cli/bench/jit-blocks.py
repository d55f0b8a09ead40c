#!/usr/bin/env python3
"""Where a jit run's time went, by translated block.

Usage:
    ZMMU_PERF_MAP=1 perf record -o perf.data zmmu run --engine jit PROGRAM.elf
    python3 cli/bench/jit-blocks.py perf.data /tmp/perf-PID.map [N]

`ZMMU_PERF_MAP=1` makes the jit write /tmp/perf-PID.map (host address,
size, s390x_GUESTADDR per block). perf itself does not apply that map to
the jit's code buffer (a memfd mapping, not anonymous memory), so this
script does: it reads the samples' addresses with `perf script` and prints
the N (default 15) heaviest blocks and host objects with their share of
the samples, then the hottest offsets inside blocks (an offset is the
host instruction after the one that waits, as sampling usually reports).
"""
import bisect
import collections
import subprocess
import sys


def main():
    data, map_file = sys.argv[1], sys.argv[2]
    top = int(sys.argv[3]) if len(sys.argv) > 3 else 15
    blocks = []
    with open(map_file) as f:
        for line in f:
            host, size, name = line.split()
            blocks.append((int(host, 16), int(size, 16), name))
    blocks.sort()
    starts = [b[0] for b in blocks]
    script = subprocess.run(
        ["perf", "script", "-i", data, "-F", "ip,dso"],
        capture_output=True, text=True, check=True).stdout
    where = collections.Counter()
    offsets = collections.Counter()
    total = 0
    for line in script.splitlines():
        fields = line.split()
        if len(fields) < 2:
            continue
        total += 1
        if "memfd:zmmu-jit" not in line:
            where["host " + fields[1].split("/")[-1].strip("()")] += 1
            continue
        ip = int(fields[0], 16)
        i = bisect.bisect_right(starts, ip) - 1
        if i >= 0 and ip < starts[i] + blocks[i][1]:
            where[blocks[i][2]] += 1
            offsets[(blocks[i][2], ip - starts[i])] += 1
        else:
            where["jit stubs"] += 1
    for name, n in where.most_common(top):
        print(f"{100 * n / max(total, 1):5.1f}%  {name}")
    print("hottest offsets:",
          ", ".join(f"{name}+{off:#x} {n}" for (name, off), n in offsets.most_common(top)))


if __name__ == "__main__":
    main()
