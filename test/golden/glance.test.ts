import { openstackPlaybook } from '../../openstack/playbook.js';
import { expect } from 'chai';
import { readFile } from 'node:fs/promises';
import { type Playbook } from '../../lib/core/playbook.js';
import { plays } from '../../roles/glance/index.js';
import { keystoneFixture } from '../support/keystone-fixture.js';
import { iniMismatches, planSite, type ExpectedIni, type SitePlan } from '../support/plan.js';
import { expectIdempotent, inventoryWith } from '../support/golden.js';

/**
 * Golden tables: every glance-api.conf / glance-registry.conf setting the
 * seeds show (004 → hosts/juno.ini, 003 → hosts/liberty-centos.ini,
 * 000 → hosts/liberty-ubuntu.ini, which follows the Liberty guide, and the
 * Zed guide → hosts/lab.ini), as functions of the inventory's names and
 * passwords, checked on a simulated run.
 */

const API = '/etc/glance/glance-api.conf';
const REGISTRY = '/etc/glance/glance-registry.conf';

const book: Playbook = openstackPlaybook('glance-golden', [keystoneFixture(), ...plays]);

interface Site {
  /** Controller address as it appears in URLs. */
  readonly c: string;
  readonly pw: string;
}

// Seed 004 §6.2.2 (Juno), with §10.2's Telemetry settings: seed 004 installs ceilometer.
const juno = ({ c, pw }: Site, telemetry = true): { api: ExpectedIni; registry: ExpectedIni } => {
  const common: ExpectedIni = {
    database: { connection: `mysql://glance:${pw}@${c}/glance` },
    keystone_authtoken: {
      auth_uri: `http://${c}:5000/v2.0`,
      identity_uri: `http://${c}:35357`,
      admin_tenant_name: 'service',
      admin_user: 'glance',
      admin_password: pw,
      // "Comment out any auth_host, auth_port, and auth_protocol options because the identity_uri option replaces them."
      auth_host: undefined,
      auth_port: undefined,
      auth_protocol: undefined,
    },
    paste_deploy: { flavor: 'keystone' },
    DEFAULT: telemetry
      ? { notification_driver: 'messagingv2', verbose: 'True', rpc_backend: 'rabbit', rabbit_host: c, rabbit_password: pw }
      : { notification_driver: 'noop', verbose: 'True', rpc_backend: undefined },
  };
  return {
    api: { ...common, glance_store: { default_store: 'file', filesystem_store_datadir: '/var/lib/glance/images/' } },
    registry: { ...common, glance_store: { default_store: undefined } },
  };
};

// Seed 003 §3.5 (`grep '^[a-z]'` of both files), the same as the Liberty guide (seed 000).
const liberty = ({ c, pw }: Site): { api: ExpectedIni; registry: ExpectedIni } => {
  const common: ExpectedIni = {
    DEFAULT: { verbose: 'True', notification_driver: 'noop' },
    database: { connection: `mysql://glance:${pw}@${c}/glance` },
    keystone_authtoken: {
      auth_uri: `http://${c}:5000`,
      auth_url: `http://${c}:35357`,
      auth_plugin: 'password',
      project_domain_id: 'default',
      user_domain_id: 'default',
      project_name: 'service',
      username: 'glance',
      password: pw,
    },
    paste_deploy: { flavor: 'keystone' },
  };
  return { api: { ...common, glance_store: { default_store: 'file', filesystem_store_datadir: '/var/lib/glance/images/' } }, registry: common };
};

// The Zed guide (install-debian), plus the region Debian's packaged file gets wrong.
const zed = ({ c, pw }: Site): ExpectedIni => ({
  DEFAULT: { notification_driver: undefined, verbose: undefined },
  database: { connection: `mysql+pymysql://glance:${pw}@${c}/glance` },
  keystone_authtoken: {
    www_authenticate_uri: `http://${c}:5000/`,
    auth_url: `http://${c}:5000/`,
    memcached_servers: `${c}:11211`,
    auth_type: 'password',
    project_domain_name: 'Default',
    user_domain_name: 'Default',
    project_name: 'service',
    username: 'glance',
    password: pw,
    region_name: 'RegionOne',
  },
  paste_deploy: { flavor: 'keystone' },
  glance_store: { stores: 'file,http', default_store: 'file', filesystem_store_datadir: '/var/lib/glance/images/' },
});

describe('golden: glance', function () {
  this.timeout(60000);

  describe('seed 004: Juno on Ubuntu 14.04 (hosts/juno.ini)', () => {
    let site: SitePlan;
    before(async () => (site = await planSite(book, 'hosts/juno.ini')));

    it('writes every setting of glance-api.conf and glance-registry.conf', () => {
      const ctl = site.hosts.get('controller')!;
      const want = juno({ c: 'controller', pw: 'openstack' });
      expect(iniMismatches(ctl, API, want.api)).to.deep.equal([]);
      expect(iniMismatches(ctl, REGISTRY, want.registry)).to.deep.equal([]);
    });

    it('syncs the database as glance, registers the image endpoints, restarts both services', () => {
      const cmds = site.hosts.get('controller')!.commands;
      expect(cmds.some((c) => c.includes(`su -s /bin/sh -c 'glance-manage db_sync' glance`))).to.equal(true);
      const endpoint = cmds.find((c) => c.startsWith('POST http://controller:35357/v2.0/endpoints'));
      expect(endpoint)
        .to.include('"publicurl":"http://controller:9292"')
        .and.include('"internalurl":"http://controller:9292"')
        .and.include('"adminurl":"http://controller:9292"');
      expect(cmds.some((c) => c.startsWith('POST http://controller:35357/v2.0/OS-KSADM/services') && c.includes('"type":"image"'))).to.equal(true);
      expect(cmds).to.include('(stop glance-api || true) && start glance-api').and.include('(stop glance-registry || true) && start glance-registry');
    });

    it('touches no other node, and a second run changes nothing', () => {
      for (const h of ['network', 'compute1', 'block1']) expect(site.hosts.get(h)!.commands).to.deep.equal([]);
      expectIdempotent(site);
    });

    it('without Telemetry keeps the guide’s noop notifications', async () => {
      const text = `${await readFile('hosts/juno.ini', 'utf8')}\ntelemetry=false\n`;
      const plain = await planSite(book, text, { text: true });
      const want = juno({ c: 'controller', pw: 'openstack' }, false);
      expect(iniMismatches(plain.hosts.get('controller')!, API, want.api)).to.deep.equal([]);
      expect(iniMismatches(plain.hosts.get('controller')!, REGISTRY, want.registry)).to.deep.equal([]);
    });

    it('takes names, addresses and passwords from the inventory only', async () => {
      const text = (await readFile('hosts/juno.ini', 'utf8'))
        .replace(/^controller ansible_host=10\.0\.0\.11$/m, 'ctl9 ansible_host=10.9.9.9')
        .replace('default_password=openstack', 'default_password=Xy7-pass');
      const other = await planSite(book, text, { text: true });
      const ctl = other.hosts.get('ctl9')!;
      const want = juno({ c: 'ctl9', pw: 'Xy7-pass' });
      expect(iniMismatches(ctl, API, want.api)).to.deep.equal([]);
      expect(iniMismatches(ctl, REGISTRY, want.registry)).to.deep.equal([]);
      for (const path of [API, REGISTRY]) expect(ctl.files.get(path)).to.not.match(/controller|openstack/);
      expect(ctl.commands.some((c) => c.includes('"publicurl":"http://ctl9:9292"'))).to.equal(true);
    });
  });

  for (const [seed, inventory, c, services] of [
    [
      '003: Liberty on CentOS 7',
      'hosts/liberty-centos.ini',
      '192.168.56.11',
      ['systemctl restart openstack-glance-api', 'systemctl restart openstack-glance-registry', 'systemctl enable openstack-glance-api'],
    ],
    [
      '000: Liberty on Ubuntu 14.04',
      'hosts/liberty-ubuntu.ini',
      'controller',
      ['(stop glance-api || true) && start glance-api', '(stop glance-registry || true) && start glance-registry'],
    ],
  ] as const) {
    describe(`seed ${seed} (${inventory})`, () => {
      let site: SitePlan;
      before(async () => (site = await planSite(book, inventory)));

      it('writes every setting of glance-api.conf and glance-registry.conf', () => {
        const ctl = [...site.hosts.values()].find((h) => h.files.has(API))!;
        const want = liberty({ c, pw: 'openstack' });
        expect(iniMismatches(ctl, API, want.api)).to.deep.equal([]);
        expect(iniMismatches(ctl, REGISTRY, want.registry)).to.deep.equal([]);
      });

      it('syncs as glance, registers three v3 endpoints on :9292, starts the services', () => {
        const cmds = [...site.hosts.values()].flatMap((h) => h.commands);
        expect(cmds.some((x) => x.includes(`su -s /bin/sh -c 'glance-manage db_sync' glance`))).to.equal(true);
        for (const iface of ['public', 'internal', 'admin']) {
          expect(
            cmds.some((x) => x.includes('/v3/endpoints') && x.includes(`"interface":"${iface}","url":"http://${c}:9292"`)),
            iface,
          ).to.equal(true);
        }
        for (const s of services) expect(cmds).to.include(s);
      });

      it('a second run changes nothing', () => expectIdempotent(site));
    });
  }

  describe('Zed on Debian 12 (hosts/lab.ini)', () => {
    let site: SitePlan;
    before(async () => (site = await planSite(book, await inventoryWith('hosts/lab.ini', 'default_password=Lab-pw1'), { text: true })));

    it('writes every setting of glance-api.conf and no glance-registry.conf', () => {
      const ctl = site.hosts.get('controller')!;
      expect(iniMismatches(ctl, API, zed({ c: 'controller', pw: 'Lab-pw1' }))).to.deep.equal([]);
      expect(ctl.files.has(REGISTRY)).to.equal(false);
    });

    it('syncs as glance, registers the image endpoints, restarts glance-api only', () => {
      const cmds = site.hosts.get('controller')!.commands;
      expect(cmds.some((x) => x.includes(`su -s /bin/sh -c 'glance-manage db_sync' glance`))).to.equal(true);
      expect(cmds.filter((x) => x.includes('/v3/endpoints') && x.includes('"url":"http://controller:9292"'))).to.have.length(3);
      expect(cmds).to.include('systemctl restart glance-api');
      expect(cmds.some((x) => x.includes('glance-registry'))).to.equal(false);
    });

    it('a second run changes nothing', () => expectIdempotent(site));
  });
});
