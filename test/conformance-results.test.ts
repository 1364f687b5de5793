/**
 * conformance/results.ts: Tempest's records to one status per required test
 * of the guideline, the machine's skip reason, and the files written from
 * them; plus the guideline files shipped in conformance/guideline/.
 */
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import {
  guidelineTests,
  includeList,
  judge,
  parseRecords,
  parseRequired,
  resultsMarkdown,
  summarize,
  type TempestRecord,
} from '../openstack/tempest/results.js';
import { GUIDELINE } from '../playbooks/conformance.js';

const A = 'tempest.api.compute.servers.test_create_server.ServersTestJSON.test_list_servers';
const B = 'tempest.api.compute.servers.test_create_server.ServersTestJSON.test_verify_server_details';
const V = 'tempest.api.volume.test_volumes_get.VolumesGetTestJSON.test_volume_create_get_update_delete';
const N = 'tempest.api.network.test_ports.PortsTestJSON.test_list_ports';
const M = 'tempest.api.image.v2.test_images.ListImagesTest.test_list_no_params';

const rec = (id: string, status: string, reason = '', seconds: number | null = 1.5): TempestRecord => ({ id, status, reason, seconds });

describe('conformance results', () => {
  it('ships the guideline: 228 required tests (81 compute, 64 network, 55 volume, 20 image, 8 identity), 11 of them flagged', () => {
    const required = parseRequired(readFileSync(GUIDELINE.required, 'utf8'));
    expect(required).to.have.length(228);
    const per = (s: string) => required.filter((t) => t.startsWith(`tempest.api.${s}.`)).length;
    expect([per('compute'), per('network'), per('volume'), per('image'), per('identity')]).to.deep.equal([81, 64, 55, 20, 8]);
    const tests = guidelineTests(JSON.parse(readFileSync(GUIDELINE.json, 'utf8')));
    expect(required.filter((t) => tests.get(t)?.flagged !== undefined)).to.have.length(11);
    expect(required.filter((t) => tests.get(t)?.idempotentId !== undefined)).to.have.length(228);
    expect(tests.get('tempest.api.network.test_routers.RoutersTest.test_update_router_unset_gateway')?.idempotentId).to.match(/^id-[0-9a-f-]{36}$/);
  });

  it('matches Tempest ids with their [id-…] tags, inherits a class-level setUpClass record, and fails what did not run', () => {
    const records = [
      rec(`${A}[id-9a438d88-10c6-4bcd-8b5b-5b6e25e1346f,smoke]`, 'success'),
      rec(`setUpClass (tempest.api.volume.test_volumes_get.VolumesGetTestJSON)`, 'skip', 'VolumesGetTestJSON skipped as Cinder is not available', null),
      rec(`setUpClass (tempest.api.network.test_ports.PortsTestJSON)`, 'fail', 'Traceback …\nConflict: quota exceeded', null),
      rec(`${M}[id-1]`, 'skip', 'Image v1 is not enabled'),
    ];
    const guideline = new Map([[B, { flagged: 'D401 a bug in the test' }]]);
    const machine = [{ tempestReason: /skipped as Cinder is not available/, reason: 'no volume back end: no device-mapper on block1' }];
    const tests = judge([A, B, V, N, M], records, guideline, machine);
    expect(tests).to.deep.equal([
      { id: A, status: 'passed', reason: '', seconds: 1.5 },
      // Flagged and absent from Tempest: nothing ran, so skipped (never passed), with the guideline's own words.
      { id: B, status: 'skipped', reason: 'not in Tempest (the guideline flags it: D401 a bug in the test)', flagged: 'D401 a bug in the test' },
      {
        id: V,
        status: 'skipped',
        reason: 'no volume back end: no device-mapper on block1 (Tempest: VolumesGetTestJSON skipped as Cinder is not available)',
      },
      { id: N, status: 'failed', reason: 'class tempest.api.network.test_ports.PortsTestJSON: Traceback …\nConflict: quota exceeded' },
      // A skip the machine did not cause keeps Tempest's reason, and counts as skipped all the same.
      { id: M, status: 'skipped', reason: 'Image v1 is not enabled', seconds: 1.5 },
    ]);
  });

  it('follows a test Tempest moved to another class by its idempotent id, and fails an unflagged test that did not run', () => {
    const uuid = 'id-cbe42f84-04c2-11e7-8adb-fa163e4fa634';
    const moved = 'tempest.api.network.admin.test_routers.RoutersAdminTest.test_update_router_unset_gateway';
    const guideline = new Map([[N, { idempotentId: uuid }]]);
    const tests = judge([N, A], [rec(`${moved}[${uuid}]`, 'success')], guideline, []);
    expect(tests[0]).to.deep.equal({ id: N, status: 'passed', reason: `run as ${moved} (same idempotent id): `, seconds: 1.5 });
    expect(tests[1]).to.include({ id: A, status: 'failed', reason: 'not run: Tempest reported neither this test nor its class' });
  });

  it('counts, and writes a table per service with every test that did not pass', () => {
    const tests = judge([A, V], [rec(`${A}[id-x]`, 'success'), rec(`${V}[id-y]`, 'fail', 'AssertionError: 1 != 2')], new Map(), []);
    const r = summarize(
      {
        guideline: '2020.06',
        target: 'OpenStack Powered Compute',
        date: '2026-12-06T02:00:00Z',
        tempest: '1:33.0.0-1',
        release: 'zed',
        concurrency: 2,
        durationS: 90,
      },
      tests,
    );
    expect(r).to.include({ required: 2, passed: 1, failed: 1, skipped: 0, duration_s: 90 });
    const md = resultsMarkdown(r);
    expect(md).to.include('**2 required: 1 passed, 1 failed, 0 skipped**');
    expect(md).to.include('| compute | 1 | 1 | 0 | 0 |');
    expect(md).to.include('| volume | 1 | 0 | 1 | 0 |');
    expect(md).to.include(`| \`${V}\` | failed | AssertionError: 1 != 2 |`);
  });

  it('anchors each required test as exactly one of the tests Tempest lists, following a moved test by its idempotent id', () => {
    const uuid = 'id-ad81b7ee-4f81-407b-a19c-17e623f763e8';
    const R = 'tempest.api.network.test_routers.RoutersTest.test_update_router_unset_gateway';
    const same = 'id-9a438d88-10c6-4bcd-8b5b-5b6e25e1346f';
    const moved = 'tempest.api.network.admin.test_routers.RoutersAdminTest.test_update_router_unset_gateway';
    const inherited = 'tempest.api.compute.servers.test_create_server.ServersTestManualDisk.test_list_servers';
    const movedV6 = 'tempest.api.network.admin.test_routers.RoutersIpV6AdminTest.test_update_router_unset_gateway';
    const available = [
      `${A}[${same},smoke]`,
      `${inherited}[${same},smoke]`,
      `${A}_with_detail[id-585e934c-448e-43c4-acbf-d06a9b899997]`,
      `${movedV6}[${uuid}]`,
      `${moved}[${uuid}]`,
    ];
    const guideline = new Map([
      [R, { idempotentId: uuid }],
      [A, { idempotentId: same }],
    ]);
    const lines = includeList([A, R, M], guideline, available).trim().split('\n');
    expect(lines[0]).to.equal('^tempest\\.api\\.compute\\.servers\\.test_create_server\\.ServersTestJSON\\.test_list_servers(\\[|$)');
    const selected = (line: string) => available.filter((t) => new RegExp(line).test(t));
    // By name: neither the _with_detail test nor the subclass that inherits the same idempotent id;
    // by idempotent id, the class that defines the test, not its IPv6 subclass.
    expect(selected(lines[0]!)).to.deep.equal([available[0]]);
    expect(selected(lines[1]!)).to.deep.equal([`${moved}[${uuid}]`]);
    // Tempest has no test M: its name stays, and it is reported not run.
    expect(lines[2]).to.equal(`^${M.replace(/\./g, '\\.')}(\\[|$)`);
  });

  it('refuses converter output that is not one JSON record per line', () => {
    expect(parseRecords('{"id":"a","status":"success","reason":"","seconds":null}\n\n')).to.have.length(1);
    expect(() => parseRecords('{"id":"a","status":"success"}\nTraceback (most recent call last):')).to.throw('tempest record 2 is not JSON: Traceback');
    expect(() => parseRecords('{"status":"success"}')).to.throw('tempest record 1 has no id or status');
  });
});
