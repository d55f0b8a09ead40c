#!/bin/sh
# /init of the initramfs that scripts/linux-image.sh builds: mounts the
# kernel's file systems, prints what the machine is, runs a compute, a
# memory and a process-creation workload, prints their results as
# `name: value` lines between `zmmu-demo: begin` and `zmmu-demo: end`
# (scripts/linux-boot-test.sh compares them), then powers off, or with
# `zmmu.shell` on the kernel command line starts an interactive shell.
# With `zmmu.quick` on the command line the workloads run on inputs a
# hundred times smaller (the interpreter's boot in the tests).
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
echo "online: $(cat /sys/devices/system/cpu/online)"

# Each phase's duration goes to a `zmmu-time:` line (not compared).
now() { cut -d' ' -f1 /proc/uptime; }
phase() { echo "zmmu-time: $1 $(awk -v a="$2" -v b="$(now)" 'BEGIN { printf "%.2f s", b - a }')"; }
echo "zmmu-time: boot $(now) s"

# The workloads' sizes: the largest square, the primes' bound, the memory
# workload's 16 MiB blocks, the processes.
if grep -qw zmmu.quick /proc/cmdline; then
  squares=500 below=1000 blocks=1 children=30
else
  squares=50000 below=10000 blocks=16 children=300
fi

# Compute: the sum of squares of 1..$squares and the primes below $below.
t=$(now)
echo "squares: $(seq 1 "$squares" | awk '{ s += $1 * $1 } END { printf "%.0f", s }')"
echo "primes: $(awk -v below="$below" 'BEGIN { n = 0; for (i = 2; i < below; i++) { p = 1; for (d = 2; d * d <= i; d++) if (i % d == 0) { p = 0; break } n += p } print n }')"
phase compute "$t"

# Memory: $blocks times 16 MiB (256 MiB) written to tmpfs (guest
# storage) from a 1 MiB pattern, read back whole (copied to /dev/null),
# and its last 4 MiB hashed.
t=$(now)
yes 'zmmu s390x memory workload' | head -c 1048576 >/tmp/chunk
cat $(for i in $(seq 16); do echo /tmp/chunk; done) >/tmp/c16
cat $(for i in $(seq "$blocks"); do echo /tmp/c16; done) >/tmp/big
rm -f /tmp/chunk /tmp/c16
cat /tmp/big >/dev/null
echo "memory: $(stat -c %s /tmp/big) bytes, tail md5 $(tail -c 4194304 /tmp/big | md5sum | cut -d' ' -f1)"
rm -f /tmp/big
phase memory "$t"

# Disk: with a virtio block device (zmmu's --drive, QEMU's
# virtio-blk-ccw) holding an ext4 file system: its size, then mounted, a
# file read, one hashed and one written, and unmounted.
t=$(now)
for module in virtio_blk crc16 crc32c_generic mbcache jbd2 ext4; do
  insmod /lib/modules/$module.ko 2>/dev/null
done
i=0
while [ ! -b /dev/vda ] && [ "$i" -lt 20 ] && [ -n "$(ls /sys/bus/virtio/devices 2>/dev/null)" ]; do
  sleep 0.1
  i=$((i + 1))
done
if [ -b /dev/vda ]; then
  echo "disk: $(cat /sys/block/vda/size) sectors"
  mkdir -p /mnt
  if mount -t ext4 /dev/vda /mnt 2>/dev/null; then
    echo "disk file: $(cat /mnt/hello.txt)"
    echo "disk data md5: $(md5sum /mnt/data.bin | cut -d' ' -f1)"
    echo 'written by /init' >/mnt/written.txt
    umount /mnt && echo "disk: unmounted"
  else
    echo "disk: no ext4 file system"
  fi
else
  echo "disk: none"
fi
phase disk "$t"

# Processes: $children children, each a new process running busybox.
t=$(now)
i=0
while [ "$i" -lt "$children" ]; do
  /bin/true || break
  i=$((i + 1))
done
echo "processes: $i"
phase processes "$t"
echo "zmmu-demo: end"

if grep -qw zmmu.shell /proc/cmdline; then
  echo "zmmu-demo: a shell; poweroff -f leaves"
  exec setsid cttyhack sh -l
fi
poweroff -f
