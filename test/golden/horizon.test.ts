import { openstackPlaybook } from '../../openstack/playbook.js';
import { expect } from 'chai';
import { plays } from '../../roles/horizon/index.js';
import { PyExpr, pyLiteral, pyString, readPythonSetting, setPythonSettings } from '../../roles/horizon/python-settings.js';
import { host, planSite, type HostPlan, type SitePlan } from '../support/plan.js';
import { expectIdempotent, inventoryWith } from '../support/golden.js';

/**
 * The dashboard's local_settings as seeds 004 and 003 show them (and the
 * Liberty and Zed guides for what the seeds leave out).
 */

const book = openstackPlaybook('horizon-test', plays);

/** Python source without whitespace outside strings and without trailing commas, to compare values however they are laid out. */
function compact(source: string | undefined): string | undefined {
  if (source === undefined) return undefined;
  let out = '';
  let quote: string | null = null;
  for (let i = 0; i < source.length; i++) {
    const c = source[i]!;
    if (quote) {
      out += c;
      if (c === '\\') out += source[++i] ?? '';
      else if (c === quote) quote = null;
    } else if (c === '"' || c === "'") {
      quote = c;
      out += "'";
    } else if (!/\s/.test(c)) out += c;
  }
  return out.replace(/,([}\]])/g, '$1').replace(/"/g, "'");
}

type Expected = Readonly<Record<string, string | undefined>>;

function settingMismatches(plan: HostPlan, path: string, expected: Expected): string[] {
  const text = plan.files.get(path);
  if (text === undefined) return [`${path} was not written`];
  return Object.entries(expected).flatMap(([name, value]) => {
    const got = compact(readPythonSetting(text, name));
    const want = compact(value);
    return got === want ? [] : [`${name}: expected ${want}, got ${got}`];
  });
}

describe('golden: horizon', () => {
  describe('seed 004 §9 (juno, Ubuntu 14.04)', () => {
    let plan: SitePlan;
    before(async () => {
      plan = await planSite(book, await inventoryWith('hosts/juno.ini', '[all:vars]\ntime_zone=Asia/Shanghai'), { text: true });
    });

    it('writes the settings of §9.1', () => {
      expect(
        settingMismatches(host(plan, 'controller'), '/etc/openstack-dashboard/local_settings.py', {
          OPENSTACK_HOST: '"controller"',
          ALLOWED_HOSTS: "['*']",
          CACHES: "{'default': {'BACKEND': 'django.core.cache.backends.memcached.MemcachedCache', 'LOCATION': '127.0.0.1:11211'}}",
          TIME_ZONE: '"Asia/Shanghai"',
          OPENSTACK_KEYSTONE_DEFAULT_ROLE: '"_member_"',
          OPENSTACK_KEYSTONE_URL: undefined,
          OPENSTACK_API_VERSIONS: undefined,
        }),
      ).to.deep.equal([]);
    });

    it('installs the guide packages, drops the Ubuntu theme, reloads apache2', () => {
      const cmds = host(plan, 'controller').commands;
      expect(cmds.some((c) => c.endsWith('-- openstack-dashboard apache2 libapache2-mod-wsgi memcached python-memcache'))).to.equal(true);
      // A fresh simulated host has no theme to remove, but the task is there.
      expect(plan.results.filter((r) => r.host === 'controller' && r.task === 'remove openstack-dashboard-ubuntu-theme').map((r) => r.status)).to.deep.equal([
        'ok',
      ]);
      expect(cmds).to.include.members(['initctl start memcached', 'initctl start apache2', 'initctl reload apache2']);
    });

    it('changes nothing on a second run', () => expectIdempotent(plan));
  });

  describe('seed 003 §7 (liberty, CentOS 7)', () => {
    let plan: SitePlan;
    before(async () => {
      plan = await planSite(book, await inventoryWith('hosts/liberty-centos.ini', '[all:vars]\ntime_zone=Asia/Shanghai'), { text: true });
    });

    it('writes the settings of §7.1 and the Liberty guide', () => {
      expect(
        settingMismatches(host(plan, 'linux-node1'), '/etc/openstack-dashboard/local_settings', {
          OPENSTACK_HOST: '"192.168.56.11"',
          ALLOWED_HOSTS: "['*']",
          OPENSTACK_KEYSTONE_DEFAULT_ROLE: '"user"',
          CACHES: "{'default': {'BACKEND': 'django.core.cache.backends.memcached.MemcachedCache', 'LOCATION': '192.168.56.11:11211'}}",
          TIME_ZONE: '"Asia/Shanghai"',
          OPENSTACK_KEYSTONE_URL: '"http://192.168.56.11:5000/v3"',
          OPENSTACK_KEYSTONE_MULTIDOMAIN_SUPPORT: 'True',
          OPENSTACK_API_VERSIONS: "{'identity': 3, 'volume': 2}",
          OPENSTACK_KEYSTONE_DEFAULT_DOMAIN: "'default'",
          // Provider networks only (linuxbridge-flat): no routers in the dashboard.
          OPENSTACK_NEUTRON_NETWORK:
            "{'enable_router': False, 'enable_quotas': False, 'enable_distributed_router': False, 'enable_ha_router': False, 'enable_lb': False, 'enable_firewall': False, 'enable_vpn': False, 'enable_fip_topology_check': False}",
        }),
      ).to.deep.equal([]);
      expect(host(plan, 'linux-node1').commands).to.include.members(['systemctl start httpd', 'systemctl reload httpd']);
    });

    it('changes nothing on a second run', () => expectIdempotent(plan));
  });

  describe('seed 000 (liberty, Ubuntu 14.04, self-service networks)', () => {
    let plan: SitePlan;
    before(async () => {
      plan = await planSite(book, 'hosts/liberty-ubuntu.ini');
    });

    it('uses memcached on the management address and keeps the router panels', () => {
      expect(
        settingMismatches(host(plan, 'controller'), '/etc/openstack-dashboard/local_settings.py', {
          OPENSTACK_HOST: '"controller"',
          CACHES: "{'default': {'BACKEND': 'django.core.cache.backends.memcached.MemcachedCache', 'LOCATION': 'controller:11211'}}",
          OPENSTACK_KEYSTONE_DEFAULT_ROLE: '"user"',
          OPENSTACK_KEYSTONE_URL: '"http://controller:5000/v3"',
          TIME_ZONE: '"UTC"',
          OPENSTACK_NEUTRON_NETWORK: undefined,
        }),
      ).to.deep.equal([]);
    });

    it('changes nothing on a second run', () => expectIdempotent(plan));
  });

  describe('zed (Debian 12, lab)', () => {
    let plan: SitePlan;
    before(async () => {
      plan = await planSite(book, 'hosts/lab.ini');
    });

    it('writes the Zed guide settings for Debian', () => {
      const ctl = host(plan, 'controller');
      expect(
        settingMismatches(ctl, '/etc/openstack-dashboard/local_settings.py', {
          OPENSTACK_HOST: '"controller"',
          ALLOWED_HOSTS: "['*']",
          SESSION_ENGINE: "'django.contrib.sessions.backends.cache'",
          CACHES: "{'default': {'BACKEND': 'django.core.cache.backends.memcached.MemcachedCache', 'LOCATION': 'controller:11211'}}",
          OPENSTACK_KEYSTONE_DEFAULT_ROLE: '"member"',
          OPENSTACK_KEYSTONE_URL: '"http://controller:5000/v3"',
          OPENSTACK_KEYSTONE_MULTIDOMAIN_SUPPORT: 'True',
          OPENSTACK_API_VERSIONS: "{'identity': 3, 'image': 2, 'volume': 3}",
          OPENSTACK_KEYSTONE_DEFAULT_DOMAIN: '"Default"',
        }),
      ).to.deep.equal([]);
      expect(ctl.commands.some((c) => c.endsWith('-- openstack-dashboard-apache'))).to.equal(true);
    });

    it("sets the same memcached CACHES in Debian's cache snippet, which local_settings.d reads last", () => {
      expect(
        settingMismatches(host(plan, 'controller'), '/etc/openstack-dashboard/local_settings.d/_0006_debian_cache.py', {
          CACHES: "{'default': {'BACKEND': 'django.core.cache.backends.memcached.MemcachedCache', 'LOCATION': 'controller:11211'}}",
        }),
      ).to.deep.equal([]);
    });

    it('changes nothing on a second run', () => expectIdempotent(plan));
  });
});

describe('python settings editor', () => {
  // Shaped like the distributions' local_settings: commented examples, multi-line dicts, indented code.
  const original = `# -*- coding: utf-8 -*-
import os

from django.utils.translation import ugettext_lazy as _

DEBUG = False
#ALLOWED_HOSTS = ['horizon.example.com', ]
ALLOWED_HOSTS = ['horizon.example.com', 'localhost']

# CACHES = {
#     'default': {'BACKEND': 'django.core.cache.backends.memcached.MemcachedCache'},
# }
CACHES = {
    'default': {
        'BACKEND': 'django.core.cache.backends.locmem.LocMemCache',  # a comment with a ] bracket
    },
}

OPENSTACK_HOST = "127.0.0.1"
OPENSTACK_KEYSTONE_URL = "http://%s:5000/v2.0" % OPENSTACK_HOST

if DEBUG:
    OPENSTACK_HOST = "debug-host"

HELP = """
OPENSTACK_HOST = "inside a string"
"""
TIME_ZONE = "UTC"
`;

  it('replaces top-level assignments, multi-line ones whole, and nothing else', () => {
    const out = setPythonSettings(original, [
      { name: 'OPENSTACK_HOST', value: 'controller' },
      { name: 'ALLOWED_HOSTS', value: ['*'] },
      { name: 'CACHES', value: { default: { BACKEND: 'django.core.cache.backends.memcached.MemcachedCache', LOCATION: '127.0.0.1:11211' } } },
    ]);
    expect(out).to.equal(
      original
        .replace(`ALLOWED_HOSTS = ['horizon.example.com', 'localhost']`, `ALLOWED_HOSTS = ['*']`)
        .replace(
          `CACHES = {
    'default': {
        'BACKEND': 'django.core.cache.backends.locmem.LocMemCache',  # a comment with a ] bracket
    },
}`,
          `CACHES = {
    'default': {
        'BACKEND': 'django.core.cache.backends.memcached.MemcachedCache',
        'LOCATION': '127.0.0.1:11211',
    },
}`,
        )
        .replace(`OPENSTACK_HOST = "127.0.0.1"`, `OPENSTACK_HOST = 'controller'`),
    );
    // Comments, the indented assignment and the one inside a string are untouched.
    expect(out).to.contain("#ALLOWED_HOSTS = ['horizon.example.com', ]");
    expect(out).to.contain('    OPENSTACK_HOST = "debug-host"');
    expect(out).to.contain('OPENSTACK_HOST = "inside a string"');
  });

  it('appends a setting that is not there', () => {
    const out = setPythonSettings(original, [{ name: 'OPENSTACK_KEYSTONE_MULTIDOMAIN_SUPPORT', value: true }]);
    expect(out).to.equal(`${original}OPENSTACK_KEYSTONE_MULTIDOMAIN_SUPPORT = True\n`);
    expect(setPythonSettings('', [{ name: 'A', value: 1 }])).to.equal('A = 1\n');
    expect(setPythonSettings('X = 1', [{ name: 'A', value: null }])).to.equal('X = 1\nA = None\n');
  });

  it('changes nothing when the values are already there', () => {
    const settings = [
      { name: 'OPENSTACK_HOST', value: 'controller' },
      { name: 'CACHES', value: { default: { LOCATION: 'controller:11211' } } },
      { name: 'NEW', value: [1, 'two', false] },
    ];
    const once = setPythonSettings(original, settings);
    expect(setPythonSettings(once, settings)).to.equal(once);
    const unterminated = "OPENSTACK_HOST = 'controller'";
    expect(setPythonSettings(unterminated, [{ name: 'OPENSTACK_HOST', value: 'controller' }])).to.equal(unterminated);
  });

  it('reads the value Python keeps', () => {
    expect(readPythonSetting(original, 'OPENSTACK_HOST')).to.equal('"127.0.0.1"');
    expect(readPythonSetting(original, 'CACHES')).to.match(/^\{\n {4}'default'/);
    expect(readPythonSetting(original, 'MISSING')).to.equal(undefined);
    expect(readPythonSetting('A = 1\nA = 2\n', 'A')).to.equal('2');
  });

  it('leaves statements it cannot own alone and appends instead', () => {
    expect(setPythonSettings('A = 1; B = 2\n', [{ name: 'A', value: 3 }])).to.equal('A = 1; B = 2\nA = 3\n');
    expect(setPythonSettings('A == 1\nA += 2\n', [{ name: 'A', value: 3 }])).to.equal('A == 1\nA += 2\nA = 3\n');
    expect(setPythonSettings("A = ('x',\n     'y')\nB = 1\n", [{ name: 'A', value: 'z' }])).to.equal("A = 'z'\nB = 1\n");
    expect(setPythonSettings('A = 1 + \\\n    2\nB = 1\n', [{ name: 'A', value: 3 }])).to.equal('A = 3\nB = 1\n');
  });

  it('renders values as literals that cannot inject code', () => {
    expect(pyString("it's \\ a\nb")).to.equal("'it\\'s \\\\ a\\nb'");
    expect(() => pyString('Zürich')).to.throw(/non-ASCII/);
    expect(pyLiteral({ a: [true, null, 2], b: new PyExpr('OPENSTACK_HOST') })).to.equal("{\n    'a': [True, None, 2],\n    'b': OPENSTACK_HOST,\n}");
    expect(() => setPythonSettings('', [{ name: 'A = 1; import os; B', value: 1 }])).to.throw(/invalid name/);
  });
});
