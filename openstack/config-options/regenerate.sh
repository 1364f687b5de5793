#!/bin/sh
# Rebuilds every option catalog in this directory (see README.md).
#
#   openstack/config-options/regenerate.sh            # clones the projects from opendev.org into a temp dir
#   REPOS=/path/to/clones openstack/config-options/regenerate.sh   # <REPOS>/<project> are git clones with tags
#
# Zed: Debian 12's packages, downloaded with apt-get (bookworm in sources.list).
# Juno, Liberty: the sample files in each project's tree at tag juno-eol / liberty-eol.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
gen() { (cd "$root" && npx tsx openstack/config-options/generate.ts "$@"); }

# ---- Zed: Debian 12 packaged samples
(cd "$work" && apt-get download nova-common neutron-common neutron-linuxbridge-agent glance-common keystone cinder-common >/dev/null)
mkdir "$work/deb"
for deb in "$work"/*.deb; do dpkg-deb -x "$deb" "$work/deb"; done
version() { dpkg-deb -f "$work"/"$1"_*.deb Version; }
x=$work/deb
gen zed /etc/nova/nova.conf "Debian 12 nova-common $(version nova-common): /usr/share/nova-common/nova.conf" "$x/usr/share/nova-common/nova.conf"
n="Debian 12 neutron-common $(version neutron-common)"
gen zed /etc/neutron/neutron.conf "$n: /usr/share/neutron-common/neutron.conf" "$x/usr/share/neutron-common/neutron.conf"
gen zed /etc/neutron/plugins/ml2/ml2_conf.ini "$n: /usr/share/neutron-common/plugins/ml2/ml2_conf.ini" "$x/usr/share/neutron-common/plugins/ml2/ml2_conf.ini"
gen zed /etc/neutron/plugins/ml2/openvswitch_agent.ini "$n: /usr/share/neutron-common/plugins/ml2/openvswitch_agent.ini" "$x/usr/share/neutron-common/plugins/ml2/openvswitch_agent.ini"
gen zed /etc/neutron/plugins/ml2/linuxbridge_agent.ini "Debian 12 neutron-linuxbridge-agent $(version neutron-linuxbridge-agent): /etc/neutron/plugins/ml2/linuxbridge_agent.ini" "$x/etc/neutron/plugins/ml2/linuxbridge_agent.ini"
for a in l3 dhcp; do gen zed "/etc/neutron/${a}_agent.ini" "$n: /usr/share/neutron-common/${a}_agent.ini" "$x/usr/share/neutron-common/${a}_agent.ini"; done
gen zed /etc/glance/glance-api.conf "Debian 12 glance-common $(version glance-common): /usr/share/glance-common/glance-api.conf" "$x/usr/share/glance-common/glance-api.conf"
gen zed /etc/keystone/keystone.conf "Debian 12 keystone $(version keystone): /usr/share/keystone/keystone.conf" "$x/usr/share/keystone/keystone.conf"
gen zed /etc/cinder/cinder.conf "Debian 12 cinder-common $(version cinder-common): /usr/share/cinder-common/cinder.conf" "$x/usr/share/cinder-common/cinder.conf"

# ---- Juno, Liberty: samples in the projects' trees
repos=${REPOS:-}
if [ -z "$repos" ]; then
  repos=$work/git
  for p in keystone glance neutron cinder; do git clone -q --bare "https://opendev.org/openstack/$p" "$repos/$p"; done
fi
show() { # project tag path -> file in $work
  out="$work/src/$1-$2-$(echo "$3" | tr / _)"
  mkdir -p "$work/src"
  git --git-dir="$repos/$1" show "$2:$3" >"$out" || git -C "$repos/$1" show "$2:$3" >"$out"
  echo "$out"
}
for rel in juno liberty; do
  t=$rel-eol
  gen $rel /etc/keystone/keystone.conf "keystone at tag $t: etc/keystone.conf.sample" "$(show keystone $t etc/keystone.conf.sample)"
  gen $rel /etc/glance/glance-api.conf "glance at tag $t: etc/glance-api.conf" "$(show glance $t etc/glance-api.conf)"
  gen $rel /etc/neutron/neutron.conf "neutron at tag $t: etc/neutron.conf" "$(show neutron $t etc/neutron.conf)"
  for a in l3 dhcp metadata; do gen $rel "/etc/neutron/${a}_agent.ini" "neutron at tag $t: etc/${a}_agent.ini" "$(show neutron $t etc/${a}_agent.ini)"; done
done
gen juno /etc/neutron/plugins/ml2/ml2_conf.ini \
  "neutron at tag juno-eol: etc/neutron/plugins/ml2/ml2_conf.ini + plugins/openvswitch/ovs_neutron_plugin.ini + plugins/linuxbridge/linuxbridge_conf.ini (the Juno guide puts the agents’ options in ml2_conf.ini)" \
  "$(show neutron juno-eol etc/neutron/plugins/ml2/ml2_conf.ini)" \
  "$(show neutron juno-eol etc/neutron/plugins/openvswitch/ovs_neutron_plugin.ini)" \
  "$(show neutron juno-eol etc/neutron/plugins/linuxbridge/linuxbridge_conf.ini)"
gen liberty /etc/neutron/plugins/ml2/ml2_conf.ini "neutron at tag liberty-eol: etc/neutron/plugins/ml2/ml2_conf.ini" "$(show neutron liberty-eol etc/neutron/plugins/ml2/ml2_conf.ini)"
for a in linuxbridge openvswitch; do
  gen liberty "/etc/neutron/plugins/ml2/${a}_agent.ini" "neutron at tag liberty-eol: etc/neutron/plugins/ml2/${a}_agent.ini" "$(show neutron liberty-eol etc/neutron/plugins/ml2/${a}_agent.ini)"
done
gen juno /etc/cinder/cinder.conf "cinder at tag juno-eol: etc/cinder/cinder.conf.sample" "$(show cinder juno-eol etc/cinder/cinder.conf.sample)"
