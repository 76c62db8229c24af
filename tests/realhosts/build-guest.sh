#!/bin/bash
# Builds the tiny test guest: Debian's kernel plus a busybox initramfs that loads virtio, answers
# the ACPI power button with a clean poweroff, counts its boots on its disk and says when ready.
# Usage: build-guest.sh OUTDIR   (writes OUTDIR/vmlinuz and OUTDIR/initrd.img; cached)
set -euo pipefail
out=${1:?usage: build-guest.sh OUTDIR}
mkdir -p "$out"
[[ -s $out/vmlinuz && -s $out/initrd.img ]] && exit 0
work=$(mktemp -d "$out/build.XXXXXX")
trap 'rm -rf "$work"' EXIT

# The kernel package the linux-image-amd64 metapackage points at; unpacked, not installed (an
# install would run update-initramfs for a minute).
cd "$work"
apt-get download -q linux-image-amd64 >/dev/null 2>&1
kpkg=$(dpkg-deb -f linux-image-amd64_*.deb Depends | sed -n 's/^\(linux-image-[^ ,]*\).*/\1/p')
apt-get download -q "$kpkg" >/dev/null 2>&1
kver=${kpkg#linux-image-}
mods="virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci virtio_blk evdev
button failover net_failover virtio_net"
dpkg-deb --fsys-tarfile "$kpkg"_*.deb | tar -x --wildcards "./boot/vmlinuz-$kver" \
    $(for m in $mods; do echo "./lib/modules/$kver/kernel/*/$m.ko"; echo "./lib/modules/$kver/kernel/*/*/$m.ko"; done) 2>/dev/null || true
cp "boot/vmlinuz-$kver" vmlinuz

root=$work/root
mkdir -p "$root"/{bin,sbin,proc,sys,dev,etc/acpi/PWRF,lib/modules,tmp,var/log,var/run}
cp /bin/busybox "$root/bin/busybox"
for m in $mods; do
    f=$(find "lib/modules/$kver" -name "$m.ko" | head -n1)
    [[ -n $f ]] || { echo "build-guest: module $m not found in $kpkg" >&2; exit 1; }
    cp "$f" "$root/lib/modules/"
done
echo "$mods" | tr '\n' ' ' >"$root/etc/modules"

# busybox acpid runs /etc/acpi/PWRF/00000080 on a power-button press (virsh shutdown).
cat >"$root/etc/acpi/PWRF/00000080" <<'ACPI'
#!/bin/sh
echo "kvmove-guest: power button, powering off" >/dev/ttyS0
sync
poweroff -f
ACPI
chmod +x "$root/etc/acpi/PWRF/00000080"
echo "PWRF PWRF/00000080" >"$root/etc/acpid.conf"

# /init: the disk's first 16 bytes hold the boot counter (decimal, space padded); the host side
# reads it from the shared image to prove the same disk followed the guest.
cat >"$root/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in $(cat /etc/modules); do insmod /lib/modules/$m.ko; done
for _ in 1 2 3 4 5 6 7 8 9 10; do [ -b /dev/vda ] && break; sleep 0.2; done
n=$(dd if=/dev/vda bs=16 count=1 2>/dev/null | tr -dc 0-9)
n=$((${n:-0} + 1))
printf '%-15s\n' "$n" | dd of=/dev/vda bs=16 count=1 conv=notrunc,fsync 2>/dev/null
# acpid (a daemon) needs its log and pid directories, and the input devices present.
mkdir -p /var/log /var/run
for _ in 1 2 3 4 5 6 7 8 9 10; do [ -e /dev/input/event0 ] && break; sleep 0.2; done
acpid -c /etc/acpi -a /etc/acpid.conf
echo "KVMOVE-READY boot=$n" >/dev/ttyS0
while :; do sleep 3600; done
INIT
chmod +x "$root/init"
(cd "$root" && find . | busybox cpio -o -H newc 2>/dev/null | gzip -9) >initrd.img
mv vmlinuz initrd.img "$out/"
