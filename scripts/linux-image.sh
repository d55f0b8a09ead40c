#!/usr/bin/env bash
# Fetches Debian's s390x Linux kernel and busybox-static with apt-get
# download (whatever versions Debian serves), extracts them, and builds an
# initramfs (cpio newc, gzip) around our own /init (scripts/linux-init.sh).
#
# Usage: bash scripts/linux-image.sh [CACHE_DIR]   (default target/linux)
# Prints two lines: KERNEL=<path of the vmlinuz> and INITRD=<path of the
# initramfs>. Nothing is fetched again when the cache already holds it;
# the initramfs is rebuilt when /init or this script changed.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cache="${1:-$here/../target/linux}"
mkdir -p "$cache"
cache="$(cd "$cache" && pwd)"

if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
log() { printf 'linux-image: %s\n' "$*" >&2; }

need_tools=()
command -v cpio >/dev/null || need_tools+=(cpio)
command -v gzip >/dev/null || need_tools+=(gzip)

kernel_deb=$(ls "$cache"/debs/linux-image-*-s390x_*_s390x.deb 2>/dev/null | grep -v -- '-dbg' | head -n1 || true)
busybox_deb=$(ls "$cache"/debs/busybox-static_*_s390x.deb 2>/dev/null | head -n1 || true)
if [ -z "$kernel_deb" ] || [ -z "$busybox_deb" ] || [ ${#need_tools[@]} -gt 0 ]; then
  if ! dpkg --print-foreign-architectures | grep -qx s390x; then
    log "adding the s390x architecture to dpkg"
    $SUDO dpkg --add-architecture s390x
  fi
  log "apt-get update"
  $SUDO apt-get update -qq
  if [ ${#need_tools[@]} -gt 0 ]; then
    log "installing ${need_tools[*]}"
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_tools[@]}" >/dev/null
  fi
fi
if [ -z "$kernel_deb" ] || [ -z "$busybox_deb" ]; then
  mkdir -p "$cache/debs"
  # linux-image-s390x is the metapackage; its dependency names the kernel.
  kernel_pkg=$(apt-cache depends linux-image-s390x:s390x 2>/dev/null |
    sed -n 's/^ *Depends: \(linux-image-[0-9][^ :]*-s390x\).*/\1/p' | head -n1)
  if [ -z "$kernel_pkg" ]; then
    echo "linux-image: Debian serves no linux-image-s390x for s390x here" >&2
    exit 1
  fi
  log "downloading $kernel_pkg and busybox-static for s390x"
  (cd "$cache/debs" && apt-get download -qq "$kernel_pkg:s390x" busybox-static:s390x)
  kernel_deb=$(ls "$cache"/debs/linux-image-*-s390x_*_s390x.deb | grep -v -- '-dbg' | head -n1)
  busybox_deb=$(ls "$cache"/debs/busybox-static_*_s390x.deb | head -n1)
fi

if [ ! -d "$cache/kernel/boot" ]; then
  log "extracting $(basename "$kernel_deb")"
  rm -rf "$cache/kernel.tmp"
  dpkg-deb -x "$kernel_deb" "$cache/kernel.tmp"
  mv "$cache/kernel.tmp" "$cache/kernel"
fi
if [ ! -x "$cache/busybox/bin/busybox" ]; then
  log "extracting $(basename "$busybox_deb")"
  rm -rf "$cache/busybox.tmp"
  dpkg-deb -x "$busybox_deb" "$cache/busybox.tmp"
  mv "$cache/busybox.tmp" "$cache/busybox"
fi
kernel=$(ls "$cache"/kernel/boot/vmlinuz-* | head -n1)

initrd="$cache/initramfs.cpio.gz"
init="$here/linux-init.sh"
# What the archive is built from, by content (modification times change
# with every checkout and copy): /init and this script.
inputs=$(cat "$init" "$0" | sha256sum | cut -d' ' -f1)
if [ ! -f "$initrd" ] || [ "$(cat "$initrd.inputs" 2>/dev/null)" != "$inputs" ]; then
  log "building the initramfs"
  root="$cache/root"
  rm -rf "$root"
  mkdir -p "$root"/{bin,sbin,dev,proc,sys,tmp,root}
  cp "$cache/busybox/bin/busybox" "$root/bin/busybox"
  ln -s busybox "$root/bin/sh"
  install -m 0755 "$init" "$root/init"
  # For /init's disk phase, the modules of Debian's kernel that it loads
  # in this order: the virtio block driver (the virtio-ccw transport is
  # built in) and ext4 with what it needs.
  mkdir -p "$root/lib/modules"
  for module in virtio_blk crc16 crc32c_generic mbcache jbd2 ext4; do
    file=$(find "$cache"/kernel/lib/modules -name "$module.ko" | head -n1)
    if [ -z "$file" ]; then
      echo "linux-image: the kernel package has no $module.ko" >&2
      exit 1
    fi
    cp "$file" "$root/lib/modules/$module.ko"
  done
  # The console and null devices before devtmpfs is mounted, made in the
  # archive (cpio keeps the device numbers) without mknod on the host:
  # newc entries written by hand would need a writer of our own, so the
  # host's mknod is used when we are root and devtmpfs otherwise.
  if [ "$(id -u)" -eq 0 ]; then
    mknod -m 0600 "$root/dev/console" c 5 1
    mknod -m 0666 "$root/dev/null" c 1 3
  fi
  (cd "$root" && find . -print0 | LC_ALL=C sort -z |
    cpio --null --create --format=newc --owner=0:0 --quiet) | gzip -9 -n >"$initrd.tmp"
  mv "$initrd.tmp" "$initrd"
  echo "$inputs" >"$initrd.inputs"
fi

echo "KERNEL=$kernel"
echo "INITRD=$initrd"
