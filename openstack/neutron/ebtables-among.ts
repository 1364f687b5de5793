/**
 * A stand-in `ebtables` (/usr/local/sbin, ahead of /usr/sbin on the PATH of
 * neutron's privsep daemon) for Debian 12's linuxbridge agents.
 *
 * Why: Debian 12's ebtables is ebtables-nft 1.8.9, which cannot delete a
 * rule with an `--among-src` match by its spec ("RULE_DELETE failed
 * (Invalid argument)", exit 4 under --concurrent). Neutron's ARP spoofing
 * protection deletes its per-port MAC rules exactly that way whenever a
 * port is updated (a security group member change is enough), and retries
 * exit 4 with no limit: the agent stops wiring new ports, and every server
 * booted on that compute host fails after nova's vif-plugged timeout. On
 * the lab, Tempest hit it within minutes. The legacy ebtables (Debian's
 * usual advice) needs kernel support the lab's kernel lacks, and a host can
 * be either way. This shim deletes such a rule by its number in the chain,
 * which ebtables-nft does, and hands every other command to the real
 * ebtables unchanged.
 */
export const EBTABLES_SHIM_PATH = '/usr/local/sbin/ebtables';

export const EBTABLES_SHIM = `#!/usr/bin/python3
# Managed by stackplay (roles/neutron, openstack/neutron/ebtables-among.ts).
# ebtables-nft 1.8.9 cannot delete a rule with an --among-src match by its
# spec, and neutron's linuxbridge agent retries that without end. Such a
# delete becomes a delete by rule number; everything else is passed on.
import os
import subprocess
import sys

REAL = os.environ.get("STACKPLAY_EBTABLES_REAL", "/usr/sbin/ebtables")


def macs(text):
    """A MAC list as a set, the way ebtables prints it (fa:16:3e:0:0:1)."""
    return {":".join("%x" % int(o, 16) for o in m.split(":")) for m in text.strip(",").split(",") if m}


def value(args, flag):
    return args[args.index(flag) + 1] if flag in args and args.index(flag) + 1 < len(args) else None


def main(args):
    if "-D" not in args or "--among-src" not in args:
        os.execv(REAL, [REAL] + args)
    table = value(args, "-t") or "filter"
    chain = value(args, "-D")
    common = [REAL, "-t", table] + (["--concurrent"] if "--concurrent" in args else [])
    listing = subprocess.run(common + ["-L", chain, "--Ln"], capture_output=True, text=True)
    if listing.returncode != 0:
        sys.stderr.write(listing.stderr)
        return listing.returncode
    want_if, want_macs, want_target = value(args, "-i"), macs(value(args, "--among-src") or ""), value(args, "-j")
    for line in listing.stdout.splitlines():
        number, _, rule = line.strip().partition(" ")
        if not number.rstrip(".").isdigit():
            continue
        words = rule.split()
        if value(words, "-i") == want_if and value(words, "-j") == want_target and macs(value(words, "--among-src") or "") == want_macs:
            os.execv(REAL, common + ["-D", chain, number.rstrip(".")])
    # No such rule: the real ebtables says so, in its own words and exit code.
    os.execv(REAL, [REAL] + args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
`;
