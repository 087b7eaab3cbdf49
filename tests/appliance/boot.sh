#!/bin/bash
# One boot of a simulated appliance. Started by the host-side supervisor as
#   ip netns exec <netns> unshare --kill-child --pid --fork --mount --uts --ipc \
#       --propagation private -- bash boot.sh <state_dir>
# so this runs as PID 1 of a fresh PID namespace, in a private mount namespace,
# inside the appliance's network namespace. It mounts the appliance disk (an
# overlay: lower = host /, upper = <state>/disk/upper, so no write ever reaches the
# host), gives it its own /proc (with a bind-mounted boot_id), /dev, /run and /tmp,
# then pivot_roots into it and execs the appliance's init. After pivot_root the
# host's filesystem is not reachable from inside the appliance at all.
set -eu
S=$1
R=$S/root
. "$S/ctl/config"
mount -t overlay /dev/sda3 -o "lowerdir=/,upperdir=$S/disk/upper,workdir=$S/disk/work" "$R"
mount -t proc proc "$R/proc"
# host-global knobs stay read-only; sysrq-trigger is masked (it could reboot the host)
mount --bind "$R/proc/sys" "$R/proc/sys"
mount -o remount,bind,ro "$R/proc/sys"
mount --bind -o ro "$S/boot_id" "$R/proc/sys/kernel/random/boot_id"
[ ! -e "$R/proc/sysrq-trigger" ] || mount --bind /dev/null "$R/proc/sysrq-trigger"
mount -t sysfs -o ro sysfs "$R/sys" 2>/dev/null || true
# a minimal /dev of its own (no host block devices)
mount -t tmpfs -o mode=755,size=1m,nosuid tmpfs "$R/dev"
for n in null:3 zero:5 full:7 random:8 urandom:9; do mknod -m 666 "$R/dev/${n%:*}" c 1 "${n#*:}"; done
mknod -m 666 "$R/dev/tty" c 5 0
# loop devices are the host's (the kernel has one set): loop-control here, /dev/loopN
# made on demand by the appliance's mount (umsim-mount); /dev/fuse for its ISO fallback
mknod -m 600 "$R/dev/loop-control" c 10 237
mknod -m 666 "$R/dev/fuse" c 10 229
mkdir -p "$R/dev/pts" "$R/dev/shm"
mount -t devpts -o newinstance,ptmxmode=0666,mode=620,gid=5 devpts "$R/dev/pts"
ln -s pts/ptmx "$R/dev/ptmx"
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs "$R/dev/shm"
ln -s /proc/self/fd "$R/dev/fd"
ln -s /proc/self/fd/0 "$R/dev/stdin"; ln -s /proc/self/fd/1 "$R/dev/stdout"; ln -s /proc/self/fd/2 "$R/dev/stderr"
mount -t tmpfs -o mode=755,size=64m,nosuid,nodev tmpfs "$R/run"
mkdir -p "$R/run/umsim" "$R/run/lock"
mount --bind "$S/ctl" "$R/run/umsim"
touch "$R/run/umsim-log"
mount --bind "$S/supervisor.log" "$R/run/umsim-log"
mount -t tmpfs -o "mode=1777,size=${UMSIM_TMP_SIZE:-1g},nosuid,nodev" tmpfs "$R/tmp"
hostname "${UMSIM_HOSTNAME:-usage-meter}"
cd "$R"
pivot_root . mnt
cd /
umount -l /mnt
exec /usr/local/sbin/umsim-init
