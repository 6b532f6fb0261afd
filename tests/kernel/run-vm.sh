#!/bin/bash
# lympho — the exec guard's kernel judge against Debian's own kernels, in a
# virtual machine (qemu, software emulation: no KVM needed).
#
#   tests/kernel/run-vm.sh BUILDDIR SUITE...      (SUITE: bookworm, trixie, sid)
#
# For each suite: its kernel package (linux-image-amd64's), taken from the
# system's own Debian mirror (contrib/suite-apt.sh) into a private folder
# (LYMPHO_KERNELS_DIR, default BUILDDIR/kernels) and never installed; an
# initramfs of a static busybox, BUILDDIR's tests/kernel/kjudge_check with
# the libraries it links and the kernel's modules it needs; then the kernel
# booted as Debian boots it (its own default LSMs, "bpf" among them),
# kjudge_check run inside and its lines printed. Prints
# "PASS: kernel-judge/SUITE" or "FAIL: ...";
# exits 1 when one failed. A suite whose kernel cannot be fetched fails.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
[ $# -ge 2 ] || { echo "usage: run-vm.sh BUILDDIR SUITE..." >&2; exit 2; }
build=$(cd "$1" && pwd)
shift
check=$build/tests/kernel/kjudge_check
[ -x "$check" ] || { echo "run-vm: no $check (built without libbpf?)" >&2; exit 2; }
cache=${LYMPHO_KERNELS_DIR:-$build/kernels}
mkdir -p "$cache"
command -v qemu-system-x86_64 >/dev/null || { echo "run-vm: no qemu-system-x86_64" >&2; exit 2; }
bb=$(command -v busybox) || { echo "run-vm: no busybox (busybox-static)" >&2; exit 2; }
if ldd "$bb" >/dev/null 2>&1; then echo "run-vm: $bb is not static (busybox-static)" >&2; exit 2; fi

# The kernel image of a suite's unpacked packages (/boot before Debian 14,
# the modules' folder since).
kimage ()
{
  ls "$cache/$1"/root/boot/vmlinuz-* "$cache/$1"/root/usr/lib/modules/*/vmlinuz 2>/dev/null | head -n 1
}

# The suite's kernel into $cache/SUITE: vmlinuz, config, modules.
fetch ()
{
  local suite=$1 d=$cache/$1
  [ -n "$(kimage "$suite")" ] && return 0
  rm -rf "$d"
  mkdir -p "$d/debs"
  "$top/contrib/suite-apt.sh" "$d" "$suite" || return 1
  local pkg
  pkg=$(APT_CONFIG=$d/apt.conf apt-cache depends linux-image-amd64 2>>"$d/apt.log" |
    awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
  [ -n "$pkg" ] || { echo "run-vm: $suite: no kernel package" >&2; return 1; }
  mkdir -p "$d/root"
  # The package and those of its version it depends on (sid splits the
  # kernel image, its modules and a signed-or-unsigned indirection).
  local todo=("$pkg") seen=" " p dep
  while [ ${#todo[@]} -gt 0 ]; do
    p=${todo[0]}
    todo=("${todo[@]:1}")
    case $seen in *" $p "*) continue ;; esac
    seen="$seen$p "
    (cd "$d/debs" && APT_CONFIG=$d/apt.conf apt-get download "$p") >>"$d/apt.log" 2>&1 ||
      { tail -n 5 "$d/apt.log" >&2; return 1; }
    dpkg-deb -x "$d"/debs/*.deb "$d/root" || return 1
    rm -f "$d"/debs/*.deb
    for dep in $(APT_CONFIG=$d/apt.conf apt-cache depends "$p" 2>>"$d/apt.log" |
      awk '/Depends: linux-[a-z]+-[0-9]/ { print $2 }'); do
      todo+=("$dep")
    done
  done
  [ -n "$(kimage "$suite")" ] && return 0
  echo "run-vm: $suite: no kernel image in its packages" >&2
  return 1
}

# The initramfs for the suite's kernel, to stdout (cpio, gzip).
initramfs ()
{
  local d=$cache/$1 r
  r=$(mktemp -d)
  mkdir -p "$r"/{bin,proc,sys,t,lower/bin,dev}
  cp "$bb" "$r/bin/busybox"
  for a in sh mount cp insmod poweroff echo cat mkdir dd mke2fs losetup; do ln -s busybox "$r/bin/$a"; done
  for f in ok bad ok2 ok3 ok4; do cp "$bb" "$r/lower/bin/$f"; done
  cp "$check" "$r/kjudge_check"
  # The libraries it links, where the loader looks for them.
  ldd "$check" | awk '/=> \// { print $3 } /^\t\/[^ ]+ \(/ { print $1 }' | while read -r lib; do
    mkdir -p "$r$(dirname "$lib")"
    cp -L "$lib" "$r$lib"
  done
  # The modules the test needs, each after those it depends on (read from
  # the module itself: a package has no modules.dep): overlay, and a disk
  # filesystem on a loop device for the layers, where a write through a
  # shared mapping updates a file's times as on a real host (tmpfs's do
  # not).
  mkdir -p "$r/mods"
  : >"$r/mods/order"
  local seen=" "
  addmod ()
  {
    case $seen in *" $1 "*) return 0 ;; esac
    seen="$seen$1 "
    local ko dep
    ko=$(find "$d/root/lib/modules" "$d/root/usr/lib/modules" -name "$1.ko*" 2>/dev/null | head -n 1)
    [ -n "$ko" ] || return 0 # built in
    case $ko in
      *.xz) xz -dc "$ko" >"$r/mods/$1.ko" ;;
      *.zst) zstd -qdc "$ko" >"$r/mods/$1.ko" ;;
      *.gz) gzip -dc "$ko" >"$r/mods/$1.ko" ;;
      *) cp "$ko" "$r/mods/$1.ko" ;;
    esac
    for dep in $(tr '\0' '\n' <"$r/mods/$1.ko" | sed -n 's/^depends=//p' | tr ',' ' '); do
      addmod "$dep"
    done
    echo "$1" >>"$r/mods/order"
  }
  addmod overlay
  addmod loop
  addmod crc32c_generic # ext4 asks for crc32c by its crypto name (before 7.x)
  addmod crc32c-cryptoapi
  addmod ext4
  cat >"$r/init" <<'EOF'
#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t securityfs security /sys/kernel/security
for m in $(cat /mods/order); do insmod "/mods/$m.ko" || echo "insmod $m failed"; done
mkdir -p /img
mount -t tmpfs img /img
dd if=/dev/zero of=/img/disk bs=1M count=96 2>/dev/null
losetup /dev/loop0 /img/disk && mke2fs -q /dev/loop0 && mount -t ext4 /dev/loop0 /t || { echo "KJ-RESULT no disk filesystem for the layers"; poweroff -f; }
cp -a /lower /t/lower
echo "kernel: $(cat /proc/sys/kernel/osrelease), LSMs: $(cat /sys/kernel/security/lsm 2>/dev/null || echo '?')"
/kjudge_check /t
echo "KJ-RESULT $?"
poweroff -f
EOF
  chmod 755 "$r/init"
  (cd "$r" && find . | cpio -o -H newc --quiet | gzip -1)
  rm -rf "$r"
}

fails=0
for suite in "$@"; do
  echo "# kernel-judge/$suite"
  if ! fetch "$suite"; then
    echo "FAIL: kernel-judge/$suite (its kernel cannot be fetched)"
    fails=$((fails + 1))
    continue
  fi
  d=$cache/$suite
  initramfs "$suite" >"$d/initrd.gz"
  # One CPU: under software emulation a kernel patching its own text
  # across CPUs (int3, then an IPI) can trip over itself at boot (seen
  # once in trixie's 6.12 with two).
  out=$(timeout 600 qemu-system-x86_64 -machine q35 -accel tcg -cpu max -smp 1 -m 1024 -nographic -no-reboot \
    -kernel "$(kimage "$suite")" -initrd "$d/initrd.gz" \
    -append "console=ttyS0 panic=-1 quiet rdinit=/init" 2>&1 | tr -d '\r')
  printf '%s\n' "$out" >"$d/console.log"
  printf '%s\n' "$out" | grep -E '^(kernel:|ok |not ok |# |KJ-RESULT)' | sed 's/^/  /'
  rc=$(printf '%s\n' "$out" | sed -n 's/^KJ-RESULT //p' | tail -n 1)
  if [ "$rc" = 0 ]; then
    echo "PASS: kernel-judge/$suite"
  else
    printf '%s\n' "$out" | tail -n 20 | sed 's/^/  | /'
    echo "  (the whole console: $d/console.log)"
    echo "FAIL: kernel-judge/$suite (kjudge_check: ${rc:-no result})"
    fails=$((fails + 1))
  fi
done
[ "$fails" = 0 ]
