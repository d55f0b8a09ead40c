#!/bin/sh
# /init of the initramfs that scripts/linux-image.sh builds: mounts the
# kernel's file systems, prints what the machine is, runs a compute, a
# memory and a process-creation workload, prints their results as
# `name: value` lines between `zmmu-demo: begin` and `zmmu-demo: end`
# (scripts/linux-boot-test.sh compares them), then powers off, or with
# `zmmu.shell` on the kernel command line starts an interactive shell.
export PATH=/bin:/sbin
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mount -t tmpfs -o size=90% tmpfs /tmp

echo "zmmu-demo: begin"
echo "uname: $(uname -s) $(uname -m)"
echo "release: $(uname -r)"
echo "cpus: $(grep -c '^processor ' /proc/cpuinfo)"

# Compute: the sum of squares of 1..100000 and the primes below 20000.
echo "squares: $(seq 1 100000 | awk '{ s += $1 * $1 } END { printf "%.0f", s }')"
echo "primes: $(awk 'BEGIN { n = 0; for (i = 2; i < 20000; i++) { p = 1; for (d = 2; d * d <= i; d++) if (i % d == 0) { p = 0; break } n += p } print n }')"

# Memory: 256 MiB written to tmpfs (guest storage) in 1 MiB copies, all
# read back, and a 32 MiB slice hashed.
yes 'zmmu s390x memory workload' | head -c 1048576 >/tmp/chunk
for i in $(seq 256); do cat /tmp/chunk; done >/tmp/big
cat /tmp/big >/dev/null
echo "memory: $(wc -c </tmp/big) bytes, slice md5 $(dd if=/tmp/big bs=1M skip=100 count=32 2>/dev/null | md5sum | cut -d' ' -f1)"
rm -f /tmp/big /tmp/chunk

# Processes: 300 children, each a new process running busybox.
i=0
while [ "$i" -lt 300 ]; do
  /bin/true || break
  i=$((i + 1))
done
echo "processes: $i"
echo "zmmu-demo: end"

if grep -qw zmmu.shell /proc/cmdline; then
  echo "zmmu-demo: a shell; poweroff -f leaves"
  exec setsid cttyhack sh -l
fi
poweroff -f
