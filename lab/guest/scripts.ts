/**
 * What runs inside the guest: busybox `sh` scripts and the few /etc files
 * that busybox init and dropbear read. Kept apart from the build so the
 * scripts can be read (and the udhcpc hook tested on the host) on their own.
 */

/** Where the scripts live in the initramfs. */
export const GUEST_LIB = '/lib/stackplay';
/** One module path a line, dependencies first; /init insmods them in this order. */
export const MODULE_LIST = `${GUEST_LIB}/modules`;
/** The progress prefix the lab and the tests look for on the serial console. */
export const CONSOLE_PREFIX = 'stackplay-guest:';

/**
 * Sourced by /init and the udhcpc hook. STACKPLAY_LIB lets a host test
 * point the hook at its own say() and RESOLV_CONF.
 */
export function commonSh(): string {
  return `# stackplay guest: helpers shared by /init and the udhcpc hook.
RESOLV_CONF=/etc/resolv.conf

# One progress line on every console the kernel writes to (listed in
# /sys/class/tty/console/active, e.g. "tty0 ttyS0" under nova), not only
# /dev/console: that is the last console= on the command line, and nova's
# console log is the serial port whatever the order.
say() {
  sent=
  for c in $(cat /sys/class/tty/console/active 2>/dev/null); do
    if [ -c "/dev/$c" ] && echo "${CONSOLE_PREFIX} $*" >"/dev/$c" 2>/dev/null; then sent=1; fi
  done
  [ -n "$sent" ] || echo "${CONSOLE_PREFIX} $*" >/dev/console
}

# Whole seconds since boot: a deadline that no clock step can move.
uptime_s() {
  read -r up _ </proc/uptime
  echo "\${up%.*}"
}
`;
}

/** The /init of the initramfs: PID 1 until the guest is login-ready, then it hands PID 1 to busybox init. */
export function initScript(): string {
  return `#!/bin/sh
# stackplay guest /init (busybox sh as PID 1). Sets the machine up in order
# (modules, network, metadata, sshd), printing one console line per step,
# then execs busybox init, which reaps orphans and never exits. A failed
# step prints why and the boot goes on, so the console log tells the story.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
umask 022

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
# dropbear allocates ptys for interactive logins.
mount -t devpts -o gid=5,mode=620,ptmxmode=666 devpts /dev/pts
mount -t tmpfs -o mode=0755 tmpfs /run
mount -t tmpfs -o mode=1777 tmpfs /tmp

. ${GUEST_LIB}/common.sh

load_modules() {
  loaded=
  while read -r ko; do
    [ -n "$ko" ] || continue
    name=\${ko##*/}
    name=\${name%.ko}
    if err=$(insmod "$ko" 2>&1); then
      loaded="$loaded $name"
    else
      say "module $name failed: $err"
    fi
  done <${MODULE_LIST}
  say "modules loaded:$loaded"
}

# The first ethernet NIC with a device behind it (not lo, not a virtual
# interface); virtio_net probes asynchronously, so wait for it a little.
first_ethernet() {
  tries=0
  while [ $tries -lt 50 ]; do
    for dev in /sys/class/net/*; do
      [ -e "$dev/device" ] && [ "$(cat "$dev/type" 2>/dev/null)" = 1 ] || continue
      echo "\${dev##*/}"
      return 0
    done
    sleep 0.2
    tries=$((tries + 1))
  done
  return 1
}

bring_up_network() {
  ip link set lo up
  if ! iface=$(first_ethernet); then
    say "dhcp failed: no ethernet interface (virtio_net not loaded?)"
    return 1
  fi
  ip link set "$iface" up
  # The hook prints the "dhcp <ip>/<prefix> via <router>" line. -O staticroutes
  # asks for option 121 (neutron's route to 169.254.169.254 may come that way),
  # -O mtu for option 26; after the lease udhcpc stays in the background and renews it.
  if ! udhcpc -i "$iface" -s ${GUEST_LIB}/udhcpc.script -O staticroutes -O mtu -t 20 -T 3 -n -p /run/udhcpc.pid; then
    say "dhcp failed on $iface: no lease after 20 tries"
    return 1
  fi
}

# The metadata service's base URL: stackplay.metadata=<url> on the kernel
# command line, else the EC2-style link-local address nova answers on.
metadata_base() {
  base=http://169.254.169.254
  for arg in $(cat /proc/cmdline); do
    case "$arg" in
    stackplay.metadata=*) base=\${arg#stackplay.metadata=} ;;
    esac
  done
  echo "\${base%/}"
}

# fetch <url> <file>: retry until the shared deadline; the metadata service
# may answer only once neutron's proxy for this network is up. Debian's
# busybox wget has no -T, hence timeout(1) against a connect that hangs.
fetch() {
  while ! timeout 10 wget -q -O "$2" "$1" 2>/dev/null || [ ! -s "$2" ]; do
    rm -f "$2"
    [ "$(uptime_s)" -lt "$deadline" ] || return 1
    sleep 2
  done
}

read_metadata() {
  base=$(metadata_base)
  md=$base/latest/meta-data
  # 120 s, cloud-init's own wait for the EC2 metadata service (max_wait):
  # neutron's proxy for a new router's network may start that late on a busy node.
  deadline=$(($(uptime_s) + 120))
  if ! fetch "$md/instance-id" /run/instance-id.part; then
    say "metadata failed: no answer from $md/instance-id within 120 s"
    return 1
  fi
  # The service answers without a final newline; read still gets the line.
  read -r id </run/instance-id.part || [ -n "$id" ]
  echo "$id" >/run/instance-id
  rm -f /run/instance-id.part
  say "metadata instance-id $id"
  # The server's name, as cloud-init sets it: nova serves <name>.<dhcp_domain>; the
  # host name is its first label (Tempest checks it equals the server's name).
  fqdn=""
  if fetch "$md/hostname" /run/hostname.part && read -r fqdn </run/hostname.part || [ -n "$fqdn" ]; then
    name=\${fqdn%%.*}
    hostname "$name" && echo "$name" >/etc/hostname && say "hostname $name"
  else
    say "hostname failed: no answer from $md/hostname"
  fi
  rm -f /run/hostname.part
  if ! fetch "$md/public-keys/0/openssh-key" /run/openssh-key; then
    say "ssh key failed: no key at $md/public-keys/0/openssh-key (instance booted without a key pair?)"
    return 1
  fi
  mkdir -p /root/.ssh
  chmod 0700 /root /root/.ssh
  if ! grep -E '^(ssh-|ecdsa-|sk-)' /run/openssh-key >/root/.ssh/authorized_keys; then
    say "ssh key failed: metadata key is not an OpenSSH public key: $(head -c 60 /run/openssh-key)"
    rm -f /root/.ssh/authorized_keys
    return 1
  fi
  chmod 0600 /root/.ssh/authorized_keys
  say "ssh key installed"
}

# True once something listens on TCP port 22 (state 0A in /proc/net/tcp{,6}).
sshd_listening() {
  grep -qE ': [0-9A-F]+:0016 [0-9A-F]+:0000 0A ' /proc/net/tcp /proc/net/tcp6 2>/dev/null
}

start_sshd() {
  # -R: host keys made at first use, so every instance has its own; -s: keys
  # only, no passwords; -E: log to stderr (the console), there is no syslog.
  if ! dropbear -R -s -E -p 22 -P /run/dropbear.pid; then
    say "sshd failed: dropbear did not start"
    return 1
  fi
  tries=0
  until sshd_listening; do
    tries=$((tries + 1))
    if [ $tries -ge 50 ]; then
      say "sshd failed: nothing listens on port 22"
      return 1
    fi
    sleep 0.2
  done
}

say "init started, kernel $(uname -r)"
load_modules
say "disks: $(ls /sys/block | tr '\\n' ' ')"
bring_up_network
read_metadata
start_sshd && say "login-ready"
exec /sbin/init
# Only if busybox init is missing: PID 1 must never exit (the kernel panics).
say "busybox init failed to start; idling"
while :; do sleep 3600; done
`;
}

/**
 * busybox udhcpc's hook (-s): called with deconfig, bound, renew, nak or
 * leasefail and the lease in the environment (ip, mask as a prefix length,
 * router, staticroutes as "dest/len gw ...", dns).
 */
export function udhcpcScript(): string {
  return `#!/bin/sh
# stackplay guest: udhcpc hook. Configures $interface from the lease.
. "\${STACKPLAY_LIB:-${GUEST_LIB}}/common.sh"

set_address() {
  # A renewal of the same lease must not flush the address: that drops the routes.
  if ip -4 addr show dev "$interface" | grep -q " inet $ip/$mask "; then return 1; fi
  ip -4 addr flush dev "$interface"
  ip addr add "$ip/$mask" \${broadcast:+broadcast "$broadcast"} dev "$interface"
  return 0
}

# RFC 3442: when the server sends classless static routes (option 121), they
# replace the router option, default route included. On-link routes (gateway
# 0.0.0.0) go first: a later route's gateway may be reachable only through one.
set_routes() {
  gateway=
  if [ -n "$staticroutes" ]; then
    for pass in onlink via; do
      set -- $staticroutes
      while [ $# -ge 2 ]; do
        dest=$1
        gw=$2
        shift 2
        [ "$dest" = 0.0.0.0/0 ] && dest=default
        if [ "$gw" = 0.0.0.0 ]; then
          [ $pass = onlink ] && ip route replace "$dest" dev "$interface"
        elif [ $pass = via ]; then
          ip route replace "$dest" via "$gw" dev "$interface"
          [ "$dest" = default ] && gateway=$gw
        fi
      done
    done
  else
    for r in $router; do
      ip route replace default via "$r" dev "$interface" && gateway=$r && break
    done
  fi
}

set_dns() {
  : >"$RESOLV_CONF"
  for d in $dns; do echo "nameserver $d" >>"$RESOLV_CONF"; done
}

case "$1" in
deconfig)
  ip -4 addr flush dev "$interface"
  ip link set "$interface" up
  ;;
bound | renew)
  # Neutron's overlay networks (VXLAN, GRE) announce a smaller MTU (option 26);
  # keeping 1500 would stall every large packet, an SSH session's first.
  [ -n "$mtu" ] && ip link set dev "$interface" mtu "$mtu"
  changed=
  set_address && changed=1
  set_routes
  set_dns
  if [ "$1" = bound ] || [ -n "$changed" ]; then say "dhcp $ip/$mask via \${gateway:-none}"; fi
  ;;
leasefail | nak)
  say "dhcp $1 on $interface"
  ;;
esac
exit 0
`;
}

/**
 * busybox init's table: /init did all the setting up, so init only reaps
 * orphans (dropbear sessions, udhcpc) and handles reboot.
 */
export function inittab(): string {
  return `# stackplay guest: /init did the setup; busybox init reaps orphans and stays PID 1.
::ctrlaltdel:/sbin/reboot -f
::shutdown:/bin/sync
`;
}

/** /etc files dropbear and busybox read: root with /bin/sh (listed in /etc/shells, or dropbear refuses it). */
export function etcFiles(): Record<string, string> {
  return {
    'etc/passwd': 'root:*:0:0:root:/root:/bin/sh\n',
    'etc/group': 'root:x:0:\ntty:x:5:\n',
    'etc/shells': '/bin/sh\n',
    'etc/hostname': 'stackplay-guest\n',
    'etc/hosts': '127.0.0.1 localhost\n',
    'etc/inittab': inittab(),
  };
}
