/**
 * The floor: what checking the benchmark workload costs at the least. One
 * ssh2 connection per host, all hosts at once, one exec that prints every
 * managed file and the package and service states, compared here; nothing
 * is written. Prints `{"hosts": N, "differences": {host: count}}`.
 *
 *   node --import tsx bench/floor.ts INVENTORY
 */
import { readFileSync } from 'node:fs';
import * as net from 'node:net';
import { Client } from 'ssh2';
import { iniFiles, PACKAGES, renderTemplate, SERVICES, TEMPLATE_PATH } from './workload.js';

const [inventoryPath] = process.argv.slice(2);
if (!inventoryPath) throw new Error('usage: floor.ts INVENTORY');
const text = readFileSync(inventoryPath, 'utf8');
const hosts = [...text.matchAll(/^(\S+) ansible_host=(\S+)$/gm)].map((m) => ({ name: m[1]!, address: m[2]! }));
const keyFile = /^ansible_ssh_private_key_file=(.+)$/m.exec(text)?.[1];
if (!keyFile) throw new Error('no ansible_ssh_private_key_file');
const privateKey = readFileSync(keyFile);

function script(host: string, address: string): string {
  const files = [...iniFiles(host, address).map((f) => f.path), TEMPLATE_PATH];
  return [
    ...files.map((f) => `echo '==F ${f}'; cat '${f}' 2>/dev/null || echo '==ABSENT'`),
    `echo '==P'; dpkg-query -W -f='\${Package}\\t\${Status}\\n' ${PACKAGES.join(' ')} 2>/dev/null`,
    `echo '==S'; for s in ${SERVICES.join(' ')}; do service "$s" status >/dev/null 2>&1 && echo "$s running" || echo "$s stopped"; done`,
    '',
  ].join('\n');
}

/** INI value of key in section (last one wins, as readers do). */
function iniValue(content: string, section: string, key: string): string | undefined {
  let current = '';
  let value: string | undefined;
  for (const line of content.split('\n')) {
    const header = /^\s*\[([^\]]+)\]/.exec(line);
    if (header) current = header[1]!;
    else if (current === section) {
      const kv = /^\s*([^#;=\s]+)\s*=\s*(.*?)\s*$/.exec(line);
      if (kv && kv[1] === key) value = kv[2];
    }
  }
  return value;
}

function differences(host: string, address: string, out: string): number {
  let diffs = 0;
  const parts = out.split(/^==/m);
  const fileText = new Map<string, string | null>();
  let pkgs = '';
  let svcs = '';
  for (const part of parts) {
    if (part.startsWith('F ')) {
      const nl = part.indexOf('\n');
      const body = part.slice(nl + 1);
      fileText.set(part.slice(2, nl), body.startsWith('ABSENT') ? null : body);
    } else if (part.startsWith('P\n')) pkgs = part;
    else if (part.startsWith('S\n')) svcs = part;
  }
  // "==ABSENT" split off as its own part: a file followed by it is absent.
  for (let i = 0; i < parts.length - 1; i++)
    if (parts[i]!.startsWith('F ') && parts[i + 1]!.startsWith('ABSENT')) fileText.set(parts[i]!.slice(2, parts[i]!.indexOf('\n')), null);
  for (const f of iniFiles(host, address)) {
    const content = fileText.get(f.path) ?? '';
    for (const [section, keys] of Object.entries(f.settings))
      for (const [key, want] of Object.entries(keys)) if (iniValue(content, section, key) !== want) diffs++;
  }
  if (fileText.get(TEMPLATE_PATH) !== renderTemplate(host, address)) diffs++;
  for (const p of PACKAGES) if (!new RegExp(`^${p}\\t.* installed$`, 'm').test(pkgs)) diffs++;
  for (const s of SERVICES) if (!svcs.includes(`${s} running`)) diffs++;
  return diffs;
}

async function check(host: { name: string; address: string }): Promise<number> {
  const sock = net.connect({ host: host.address, port: 22, noDelay: true });
  await new Promise<void>((resolve, reject) => sock.once('connect', () => resolve()).once('error', reject));
  const client = new Client();
  await new Promise<void>((resolve, reject) => {
    client
      .once('ready', () => resolve())
      .once('error', reject)
      .connect({ sock, username: 'root', privateKey });
  });
  const out = await new Promise<string>((resolve, reject) => {
    client.exec(script(host.name, host.address), (err, ch) => {
      if (err) return reject(err);
      const chunks: Buffer[] = [];
      ch.on('data', (c: Buffer) => chunks.push(c));
      ch.stderr.resume();
      ch.on('close', () => resolve(Buffer.concat(chunks).toString('utf8')));
    });
  });
  client.end();
  return differences(host.name, host.address, out);
}

const results = await Promise.all(hosts.map(async (h) => [h.name, await check(h)] as const));
process.stdout.write(`${JSON.stringify({ hosts: hosts.length, differences: Object.fromEntries(results) })}\n`);
