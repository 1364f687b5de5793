import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { diffArrays } from 'diff';
import { parse as parseIni } from 'ini';
import { editIni, readIni } from '../lib/modules/ini-edit.js';
import type { IniSetting } from '../lib/modules/ini-edit.js';

const fixture = (name: string): string => readFileSync(fileURLToPath(new URL(`./fixtures/ini/${name}`, import.meta.url)), 'utf8');

// Debian 12 packaged oslo.config samples (see test/fixtures/ini/README.md).
const NOVA = fixture('nova.conf');
const GLANCE = fixture('glance-api.conf');
const KEYSTONE = fixture('keystone.conf');
const MYCNF = fixture('my.cnf');

/**
 * Line diff as `+<new line no> text` / `-<old line no> text`, so a test can
 * state exactly which lines moved and that nothing else did. Splitting on '\n'
 * keeps any '\r', so line-ending changes show up too.
 */
function lineDiff(before: string, after: string): string[] {
  const out: string[] = [];
  let oldNo = 0;
  let newNo = 0;
  for (const change of diffArrays(before.split('\n'), after.split('\n'))) {
    for (const line of change.value) {
      if (change.added) out.push(`+${++newNo} ${line}`);
      else if (change.removed) out.push(`-${++oldNo} ${line}`);
      else {
        oldNo++;
        newNo++;
      }
    }
  }
  return out;
}

/** 1-based line number of the only line equal to `line`. */
function lineNo(text: string, line: string): number {
  const lines = text.split('\n');
  const hits = lines.flatMap((l, i) => (l === line ? [i + 1] : []));
  expect(hits, `occurrences of ${JSON.stringify(line)}`).to.have.length(1);
  return hits[0] ?? -1;
}

/** Section a 1-based line sits in, by scanning back to the nearest header. */
function sectionOf(text: string, no: number): string {
  const lines = text.split('\n');
  for (let i = no - 1; i >= 0; i--) {
    const m = /^\s*\[([^\]]+)\]/.exec(lines[i] ?? '');
    if (m?.[1] !== undefined) return m[1];
  }
  return '';
}

function expectIdempotent(text: string, settings: readonly IniSetting[]): void {
  const again = editIni(text, settings);
  expect(again.changed).to.equal(false);
  expect(again.text).to.equal(text);
}

describe('ini-edit', () => {
  describe('no-op edits', () => {
    it('returns the very same text with no settings', () => {
      for (const text of [NOVA, GLANCE, KEYSTONE, MYCNF, '', 'a = 1']) {
        const r = editIni(text, []);
        expect(r.changed).to.equal(false);
        expect(r.text).to.equal(text);
      }
    });

    it('leaves keys that already have the value alone, whatever their spacing', () => {
      const text = '[DEFAULT]\ndebug=true\n  verbose   =   false  \n[database]\nconnection = sqlite://\n';
      const r = editIni(text, [
        { section: 'DEFAULT', key: 'debug', value: 'true' },
        { section: 'DEFAULT', key: 'verbose', value: 'false' },
        { section: 'database', key: 'connection', value: '  sqlite://  ' },
      ]);
      expect(r).to.deep.equal({ text, changed: false });
    });

    it('is a no-op on the real nova.conf for values already there', () => {
      const r = editIni(NOVA, [
        { section: 'keystone_authtoken', key: 'auth_type', value: 'password' },
        { section: 'DEFAULT', key: 'state_path', value: '/var/lib/nova' },
        { section: 'spice', key: 'server_listen', value: '0.0.0.0' },
        { section: 'DEFAULT', key: 'auth_host', state: 'absent' },
        // Only commented in the sample: absent must not touch it.
        { section: 'keystone_authtoken', key: 'auth_uri', state: 'absent' },
      ]);
      expect(r.changed).to.equal(false);
      expect(r.text).to.equal(NOVA);
    });
  });

  describe('real nova.conf (Debian 12, nova 26.2.2)', () => {
    const settings: IniSetting[] = [
      { section: 'DEFAULT', key: 'my_ip', value: '10.0.0.11' },
      { section: 'DEFAULT', key: 'transport_url', value: 'rabbit://openstack:RABBIT_PASS@controller:5672/' },
      { section: 'api_database', key: 'connection', value: 'mysql+pymysql://nova:p%40ss@controller/nova_api' },
      { section: 'database', key: 'connection', value: 'mysql+pymysql://nova:NOVA_DBPASS@controller/nova' },
      { section: 'keystone_authtoken', key: 'www_authenticate_uri', value: 'http://controller:5000/' },
      { section: 'keystone_authtoken', key: 'auth_url', value: 'http://controller:5000/' },
      { section: 'keystone_authtoken', key: 'memcached_servers', value: 'controller:11211' },
      { section: 'keystone_authtoken', key: 'auth_type', value: 'password' },
      { section: 'keystone_authtoken', key: 'password', value: 'NOVA_PASS' },
      { section: 'glance', key: 'api_servers', value: 'http://controller:9292' },
      { section: 'oslo_concurrency', key: 'lock_path', value: '/var/lib/nova/tmp' },
    ];
    const result = editIni(NOVA, settings);

    it('touches exactly the intended lines', () => {
      expect(result.changed).to.equal(true);
      const diff = lineDiff(NOVA, result.text).map((d) => d.replace(/^([+-])\d+ /, '$1'));
      expect(diff).to.deep.equal([
        '+my_ip = 10.0.0.11',
        '+transport_url = rabbit://openstack:RABBIT_PASS@controller:5672/',
        '+connection = mysql+pymysql://nova:p%40ss@controller/nova_api',
        '-connection = sqlite:////var/lib/nova/novadb',
        '+connection = mysql+pymysql://nova:NOVA_DBPASS@controller/nova',
        '+api_servers = http://controller:9292',
        '-auth_url = http://localhost:5000',
        '+auth_url = http://controller:5000/',
        '+password = NOVA_PASS',
        '-www_authenticate_uri = http://localhost:5000',
        '+www_authenticate_uri = http://controller:5000/',
        '+memcached_servers = controller:11211',
        '-lock_path = /var/lock/nova',
        '+lock_path = /var/lib/nova/tmp',
      ]);
      // Replacements stay in place: same line number before and after (modulo earlier inserts).
      expect(lineDiff(NOVA, result.text)).to.include('-3185 connection = sqlite:////var/lib/nova/novadb');
      expect(lineDiff(NOVA, result.text)).to.include('+3188 connection = mysql+pymysql://nova:NOVA_DBPASS@controller/nova');
    });

    it('lands each new key directly after its commented default, in the right section', () => {
      const out = result.text.split('\n');
      const cases: Array<[string, string, string]> = [
        ['DEFAULT', 'my_ip = 10.0.0.11', '#my_ip = <host_ipv4>'],
        ['DEFAULT', 'transport_url = rabbit://openstack:RABBIT_PASS@controller:5672/', '#transport_url = rabbit://'],
        ['api_database', 'connection = mysql+pymysql://nova:p%40ss@controller/nova_api', '#connection = <None>'],
        ['keystone_authtoken', 'password = NOVA_PASS', '#password ='],
        ['keystone_authtoken', 'memcached_servers = controller:11211', '#memcached_servers = <None>'],
        ['glance', 'api_servers = http://controller:9292', '#api_servers = <None>'],
      ];
      for (const [section, line, commented] of cases) {
        const no = lineNo(result.text, line);
        expect(out[no - 2], `line before ${line}`).to.equal(commented);
        expect(sectionOf(result.text, no), `section of ${line}`).to.equal(section);
      }
    });

    it('reads back the intended values, and nothing else moved', () => {
      const before = readIni(NOVA);
      const after = readIni(result.text);
      for (const s of settings) expect(after.get(s.section)?.get(s.key), `${s.section}.${s.key}`).to.equal(s.value);
      // Every other value is the same as in the sample.
      const touched = new Set(settings.map((s) => `${s.section}\0${s.key}`));
      expect([...after.keys()]).to.deep.equal([...before.keys()]);
      for (const [section, keys] of before) {
        for (const [key, value] of keys) {
          if (!touched.has(`${section}\0${key}`)) expect(after.get(section)?.get(key), `${section}.${key}`).to.equal(value);
        }
      }
      // Debian's sample really ships this broken-looking line; '=' in a value is just value.
      expect(after.get('placement')?.get('username')).to.equal('=');
    });

    it('is idempotent', () => {
      expectIdempotent(result.text, settings);
    });

    it('gives the same result whether settings are applied together or one by one', () => {
      const stepwise = settings.reduce((text, s) => editIni(text, [s]).text, NOVA);
      expect(stepwise).to.equal(result.text);
    });

    it('keeps CRLF line endings and produces the same edit', () => {
      const crlf = NOVA.replace(/\n/g, '\r\n');
      const r = editIni(crlf, settings);
      expect(r.text).to.equal(result.text.replace(/\n/g, '\r\n'));
      expect(r.text.replace(/\r\n/g, '')).not.to.include('\n');
    });

    it('removes a Juno-era auth_host (and friends) leaving the sample byte for byte', () => {
      const header = '[keystone_authtoken]\n';
      const juno = NOVA.replace(header, `${header}auth_host = 127.0.0.1\nauth_port = 35357\nauth_protocol = http\n`);
      expect(juno).not.to.equal(NOVA);
      const r = editIni(juno, [
        { section: 'keystone_authtoken', key: 'auth_host', state: 'absent' },
        { section: 'keystone_authtoken', key: 'auth_port', state: 'absent' },
        { section: 'keystone_authtoken', key: 'auth_protocol', state: 'absent' },
      ]);
      expect(r.changed).to.equal(true);
      expect(r.text).to.equal(NOVA);
      expect(readIni(r.text).get('keystone_authtoken')?.has('auth_host')).to.equal(false);
    });
  });

  describe('real glance-api.conf (Debian 12, glance 25.1.0)', () => {
    // Zed install guide: multi-store with one file backend in a new [fs] section.
    const settings: IniSetting[] = [
      { section: 'database', key: 'connection', value: 'mysql+pymysql://glance:GLANCE_DBPASS@controller/glance' },
      { section: 'keystone_authtoken', key: 'password', value: 'GLANCE_PASS' },
      { section: 'paste_deploy', key: 'flavor', value: 'keystone' },
      { section: 'DEFAULT', key: 'enabled_backends', value: 'fs:file' },
      { section: 'glance_store', key: 'default_backend', value: 'fs' },
      { section: 'fs', key: 'filesystem_store_datadir', value: '/var/lib/glance/images/' },
    ];
    const result = editIni(GLANCE, settings);

    it('inserts after commented defaults and appends the missing section', () => {
      const diff = lineDiff(GLANCE, result.text).map((d) => d.replace(/^([+-])\d+ /, '$1'));
      expect(diff).to.deep.equal([
        '+enabled_backends = fs:file',
        '+connection = mysql+pymysql://glance:GLANCE_DBPASS@controller/glance',
        '+default_backend = fs',
        '+password = GLANCE_PASS',
        '+flavor = keystone',
        // (split('\n') leaves a trailing '' that the diff pairs with the new final newline)
        '+[fs]',
        '+filesystem_store_datadir = /var/lib/glance/images/',
        '+',
      ]);
      expect(result.text.endsWith('#python_interpreter = <None>\n\n[fs]\nfilesystem_store_datadir = /var/lib/glance/images/\n')).to.equal(true);
      const out = result.text.split('\n');
      expect(out[lineNo(result.text, 'flavor = keystone') - 2]).to.equal('#flavor = keystone');
      expect(out[lineNo(result.text, 'default_backend = fs') - 2]).to.equal('#default_backend = <None>');
      const ini = readIni(result.text);
      expect(ini.get('fs')?.get('filesystem_store_datadir')).to.equal('/var/lib/glance/images/');
      // The pre-existing single-store datadir is a different section and stays.
      expect(ini.get('glance_store')?.get('filesystem_store_datadir')).to.equal('/var/lib/glance/images');
      expectIdempotent(result.text, settings);
    });
  });

  describe('real keystone.conf (Debian 12, keystone 22.0.2)', () => {
    it('picks the commented default of the right section, not an earlier same-named one', () => {
      const settings: IniSetting[] = [
        { section: 'database', key: 'connection', value: 'mysql+pymysql://keystone:KEYSTONE_DBPASS@controller/keystone' },
        // '#provider = fernet' also appears in [credential] and [receipt].
        { section: 'token', key: 'provider', value: 'fernet' },
      ];
      const r = editIni(KEYSTONE, settings);
      expect(lineDiff(KEYSTONE, r.text)).to.deep.equal([
        '+568 connection = mysql+pymysql://keystone:KEYSTONE_DBPASS@controller/keystone',
        '+2217 provider = fernet',
      ]);
      expect(r.text.split('\n')[2215]).to.equal('#provider = fernet');
      expect(sectionOf(r.text, 2217)).to.equal('token');
      expect(readIni(r.text).get('credential')?.has('provider')).to.equal(false);
      expectIdempotent(r.text, settings);
    });
  });

  describe('valueless keys (my.cnf)', () => {
    it('treats bare keys as null, and matches them when setting null', () => {
      const ini = readIni(MYCNF);
      expect(ini.get('mysqld')?.get('innodb_file_per_table')).to.equal(null);
      expect(ini.get('mysqldump')?.get('quick')).to.equal(null);
      expect(ini.get('mysqld')?.has('skip-name-resolve')).to.equal(false);
      expectIdempotent(MYCNF, [
        { section: 'mysqld', key: 'innodb_file_per_table', value: null },
        { section: 'mysqldump', key: 'quick' },
      ]);
    });

    it('uncomments-by-insertion a valueless default and converts between bare and valued', () => {
      const settings: IniSetting[] = [
        { section: 'mysqld', key: 'skip-name-resolve', value: null },
        { section: 'mysqld', key: 'innodb_file_per_table', value: 'ON' },
        { section: 'mysqldump', key: 'quote-names', value: null },
        { section: 'mysqldump', key: 'max_allowed_packet', value: null },
        { section: 'mysqldump', key: 'single-transaction' },
      ];
      const r = editIni(MYCNF, settings);
      expect(lineDiff(MYCNF, r.text)).to.deep.equal([
        '-11 innodb_file_per_table',
        '+11 innodb_file_per_table = ON',
        '+13 skip-name-resolve',
        '-23 max_allowed_packet = 16M',
        '+24 max_allowed_packet',
        '+25 single-transaction',
      ]);
      // `!includedir` stays the last line so included files still override.
      expect(r.text.endsWith('single-transaction\n\n!includedir /etc/mysql/conf.d/\n')).to.equal(true);
      const ini = readIni(r.text);
      expect(ini.get('mysqld')?.get('skip-name-resolve')).to.equal(null);
      expect(ini.get('mysqld')?.get('innodb_file_per_table')).to.equal('ON');
      expect(ini.get('mysqldump')?.get('single-transaction')).to.equal(null);
      expectIdempotent(r.text, settings);
    });

    it('keeps a valueless key distinct from an empty value', () => {
      expect(editIni('[a]\nk =\n', [{ section: 'a', key: 'k', value: '' }]).changed).to.equal(false);
      expect(editIni('[a]\nk =\n', [{ section: 'a', key: 'k', value: null }]).text).to.equal('[a]\nk\n');
      expect(editIni('[a]\nk\n', [{ section: 'a', key: 'k', value: '' }]).text).to.equal('[a]\nk =\n');
      expect(readIni('[a]\nk =\nj\n').get('a')).to.deep.equal(
        new Map([
          ['k', ''],
          ['j', null],
        ]),
      );
    });
  });

  describe('placement of new keys', () => {
    it('goes after the last non-blank line of the section, before separating blanks', () => {
      const text = '[a]\nx = 1\n# trailing note\n\n\n[b]\ny = 2\n';
      expect(editIni(text, [{ section: 'a', key: 'z', value: '3' }]).text).to.equal('[a]\nx = 1\n# trailing note\nz = 3\n\n\n[b]\ny = 2\n');
    });

    it('does not wedge a key between the next section and its leading comment', () => {
      const text = '[a]\nx = 1\n\n# about b\n[b]\ny = 2\n';
      expect(editIni(text, [{ section: 'a', key: 'z', value: '3' }]).text).to.equal('[a]\nx = 1\nz = 3\n\n# about b\n[b]\ny = 2\n');
    });

    it('goes right after the header of an empty section', () => {
      expect(editIni('[a]\n\n[b]\n', [{ section: 'a', key: 'k', value: 'v' }]).text).to.equal('[a]\nk = v\n\n[b]\n');
      expect(editIni('[a]', [{ section: 'a', key: 'k', value: 'v' }]).text).to.equal('[a]\nk = v\n');
    });

    it('uses the last of several commented defaults and keeps its indentation', () => {
      const text = '[a]\n#k = 1\n\n  ; k=2\nother = x\n';
      expect(editIni(text, [{ section: 'a', key: 'k', value: '3' }]).text).to.equal('[a]\n#k = 1\n\n  ; k=2\n  k = 3\nother = x\n');
    });

    it('does not mistake a longer commented key or prose for a default', () => {
      const text = '[a]\n#keystone = x\n# key words here\nz = 1\n';
      expect(editIni(text, [{ section: 'a', key: 'key', value: 'v' }]).text).to.equal('[a]\n#keystone = x\n# key words here\nz = 1\nkey = v\n');
    });

    it("honours a custom separator for new lines but keeps an existing line's own spacing", () => {
      const text = '[a]\nk=old\n';
      const r = editIni(
        text,
        [
          { section: 'a', key: 'k', value: 'new' },
          { section: 'a', key: 'n', value: '1' },
        ],
        { separator: '=' },
      );
      expect(r.text).to.equal('[a]\nk=new\nn=1\n');
      expect(editIni('[a]\n  k   =  old # not a comment\n', [{ section: 'a', key: 'k', value: 'v' }]).text).to.equal('[a]\n  k   =  v\n');
    });

    it('section names are case-sensitive and headers may carry whitespace', () => {
      const text = '  [ DEFAULT ]  \nk = 1\n';
      expect(editIni(text, [{ section: 'DEFAULT', key: 'k', value: '2' }]).text).to.equal('  [ DEFAULT ]  \nk = 2\n');
      expect(editIni(text, [{ section: 'default', key: 'k', value: '2' }]).text).to.equal('  [ DEFAULT ]  \nk = 1\n\n[default]\nk = 2\n');
    });
  });

  describe('new sections', () => {
    it('appends one header for several keys, in the order given', () => {
      const r = editIni('[a]\nx = 1\n', [
        { section: 'new', key: 'one', value: '1' },
        { section: 'a', key: 'y', value: '2' },
        { section: 'new', key: 'two', value: null },
        { section: 'new', key: 'three', value: '3' },
      ]);
      expect(r.text).to.equal('[a]\nx = 1\ny = 2\n\n[new]\none = 1\ntwo\nthree = 3\n');
    });

    it('adds no blank line to an empty file or one already ending with a blank line', () => {
      expect(editIni('', [{ section: 's', key: 'k', value: 'v' }]).text).to.equal('[s]\nk = v\n');
      expect(editIni('[a]\nx = 1\n\n', [{ section: 's', key: 'k', value: 'v' }]).text).to.equal('[a]\nx = 1\n\n[s]\nk = v\n');
    });

    it('terminates an unterminated last line before appending', () => {
      expect(editIni('[a]\nx = 1', [{ section: 's', key: 'k', value: 'v' }]).text).to.equal('[a]\nx = 1\n\n[s]\nk = v\n');
    });

    it('does not create a section just to remove a key', () => {
      expect(editIni('[a]\nx = 1\n', [{ section: 'b', key: 'x', state: 'absent' }])).to.deep.equal({
        text: '[a]\nx = 1\n',
        changed: false,
      });
    });
  });

  describe("keys before any header (section '')", () => {
    it('reads and edits the top region', () => {
      const text = '# sysctl-ish\nnet.ipv4.ip_forward = 1\n\n[mysqld]\nport = 3306\n';
      expect(readIni(text).get('')?.get('net.ipv4.ip_forward')).to.equal('1');
      expect(editIni(text, [{ section: '', key: 'vm.swappiness', value: '10' }]).text).to.equal(
        '# sysctl-ish\nnet.ipv4.ip_forward = 1\nvm.swappiness = 10\n\n[mysqld]\nport = 3306\n',
      );
      expect(editIni(text, [{ section: '', key: 'net.ipv4.ip_forward', value: '0' }]).text).to.equal(
        '# sysctl-ish\nnet.ipv4.ip_forward = 0\n\n[mysqld]\nport = 3306\n',
      );
    });

    it('inserts before the first header when the top region is empty, and into a headerless file', () => {
      expect(editIni('[a]\nx = 1\n', [{ section: '', key: 'k', value: 'v' }]).text).to.equal('k = v\n[a]\nx = 1\n');
      expect(editIni('a = 1\nb = 2', [{ section: '', key: 'c', value: '3' }]).text).to.equal('a = 1\nb = 2\nc = 3\n');
      expect(readIni('[a]\nx = 1\n').has('')).to.equal(false);
    });
  });

  describe('duplicates and absent', () => {
    it('sets the first active occurrence and removes later ones', () => {
      const text = '[DEFAULT]\ndebug = true\n#debug = false\nverbose = true\ndebug = false\n[other]\ndebug = true\n';
      const r = editIni(text, [{ section: 'DEFAULT', key: 'debug', value: 'false' }]);
      expect(r.text).to.equal('[DEFAULT]\ndebug = false\n#debug = false\nverbose = true\n[other]\ndebug = true\n');
      // Already right in the first place: the duplicate still goes.
      expect(editIni('[a]\nk = 1\nk = 2\n', [{ section: 'a', key: 'k', value: '1' }]).text).to.equal('[a]\nk = 1\n');
    });

    it('treats repeated headers as one section', () => {
      const text = '[a]\nk = 1\n[b]\nx = 1\n[a]\nk = 2\nj = 3\n';
      expect(readIni(text).get('a')).to.deep.equal(
        new Map([
          ['k', '2'],
          ['j', '3'],
        ]),
      );
      expect(editIni(text, [{ section: 'a', key: 'k', value: '9' }]).text).to.equal('[a]\nk = 9\n[b]\nx = 1\n[a]\nj = 3\n');
    });

    it('removes every active line of the key but leaves comments', () => {
      const text = '[a]\nauth_host = x\n#auth_host = 127.0.0.1\nkeep = 1\n  auth_host=y\n';
      const r = editIni(text, [{ section: 'a', key: 'auth_host', state: 'absent' }]);
      expect(r).to.deep.equal({ text: '[a]\n#auth_host = 127.0.0.1\nkeep = 1\n', changed: true });
    });

    it('keeps a missing final newline missing when editing or removing the last line', () => {
      expect(editIni('[a]\nx = 1', [{ section: 'a', key: 'x', value: '2' }]).text).to.equal('[a]\nx = 2');
      expect(editIni('[a]\nx = 1\ny = 2', [{ section: 'a', key: 'y', state: 'absent' }]).text).to.equal('[a]\nx = 1');
    });

    it('reports no change when the settings cancel out', () => {
      const text = '[a]\nx = 1\n';
      const r = editIni(text, [
        { section: 'a', key: 'x', state: 'absent' },
        { section: 'a', key: 'x', value: '1' },
      ]);
      expect(r).to.deep.equal({ text, changed: false });
    });
  });

  describe('values', () => {
    it('keeps =, #, ;, % and spaces as part of the value', () => {
      const settings: IniSetting[] = [
        { section: 'database', key: 'connection', value: 'mysql+pymysql://nova:p%40ss@controller/nova?charset=utf8' },
        { section: 'DEFAULT', key: 'password', value: 'a#b;c = d %(x)s' },
        { section: 'DEFAULT', key: 'banner', value: 'hello   world' },
      ];
      const r = editIni('[DEFAULT]\n[database]\n', settings);
      expect(r.text).to.equal(
        '[DEFAULT]\npassword = a#b;c = d %(x)s\nbanner = hello   world\n[database]\nconnection = mysql+pymysql://nova:p%40ss@controller/nova?charset=utf8\n',
      );
      const ini = readIni(r.text);
      for (const s of settings) expect(ini.get(s.section)?.get(s.key)).to.equal(s.value);
      expectIdempotent(r.text, settings);
    });

    it('does not treat ":" as a separator', () => {
      expect(readIni('[a]\nkey: value\n').get('a')).to.deep.equal(new Map([['key: value', null]]));
    });

    it('keeps mixed line endings of untouched lines', () => {
      const text = '[a]\r\nx = 1\ny = 2\r\n';
      expect(editIni(text, [{ section: 'a', key: 'x', value: '3' }]).text).to.equal('[a]\r\nx = 3\ny = 2\r\n');
      expect(editIni(text, [{ section: 'a', key: 'z', value: '3' }]).text).to.equal('[a]\r\nx = 1\ny = 2\r\nz = 3\r\n');
    });
  });

  describe('invalid settings', () => {
    const bad: Array<[string, IniSetting, RegExp]> = [
      ['empty key', { section: 'a', key: '', value: 'v' }, /non-empty/],
      ['blank key', { section: 'a', key: '  ', value: 'v' }, /non-empty/],
      ['key with =', { section: 'a', key: 'a=b', value: 'v' }, /'='/],
      ['key with newline', { section: 'a', key: 'a\nb', value: 'v' }, /newline/],
      ['key like a comment', { section: 'a', key: '#k', value: 'v' }, /start with/],
      ['value with newline', { section: 'a', key: 'k', value: 'v\n[evil]' }, /newline/],
      ['value with CR', { section: 'a', key: 'k', value: 'v\r' }, /newline/],
      ['section with ]', { section: 'a]', key: 'k', value: 'v' }, /section/],
    ];
    for (const [name, setting, message] of bad) {
      it(`rejects ${name}`, () => {
        expect(() => editIni('[a]\n', [setting])).to.throw(Error, message);
      });
    }

    it('validates all settings before applying any', () => {
      expect(() =>
        editIni('[a]\n', [
          { section: 'a', key: 'ok', value: '1' },
          { section: 'a', key: '', value: '2' },
        ]),
      ).to.throw(Error);
    });
  });
});

describe('ini-edit, cross-checked by an independent parser (npm ini)', () => {
  const zed: IniSetting[] = [
    { section: 'database', key: 'connection', value: 'mysql+pymysql://nova:secret@controller/nova' },
    { section: 'DEFAULT', key: 'transport_url', value: 'rabbit://openstack:secret@controller:5672/' },
    { section: 'DEFAULT', key: 'my_ip', value: '10.0.0.31' },
    { section: 'keystone_authtoken', key: 'www_authenticate_uri', value: 'http://controller:5000/' },
    { section: 'keystone_authtoken', key: 'auth_type', value: 'password' },
    { section: 'glance', key: 'api_servers', value: 'http://controller:9292' },
    { section: 'brand_new', key: 'x', value: 'y' },
  ];
  for (const [name, text] of [
    ['nova.conf', NOVA],
    ['glance-api.conf', GLANCE],
    ['keystone.conf', KEYSTONE],
  ] as const) {
    it(`${name}: every value npm ini reads after the edit is what we set, and nothing else moved`, () => {
      const before = parseIni(text) as Record<string, Record<string, unknown>>;
      const after = parseIni(editIni(text, zed).text) as Record<string, Record<string, unknown>>;
      for (const s of zed) expect(after[s.section]?.[s.key], `${s.section}.${s.key}`).to.equal(s.value);
      const touched = new Set(zed.map((s) => `${s.section}.${s.key}`));
      for (const [section, options] of Object.entries(before)) {
        if (typeof options !== 'object' || options === null) continue;
        for (const [key, value] of Object.entries(options)) {
          if (!touched.has(`${section}.${key}`)) expect(after[section]?.[key], `${section}.${key}`).to.deep.equal(value);
        }
      }
    });
  }
});
