// `brindlectl ipam show|check|release|configure` as an operator runs them (`node bin/brindlectl` in a
// child process) against an embedded store in a temp dir, which this process also opens to allocate
// addresses and plant residue with the IPAM client.

import test from 'ava';
import { writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { openStore } from '../../src/datastore/open.ts';
import type { Store } from '../../src/datastore/store.ts';
import { IpamClient, IpamDatastore } from '../../src/ipam/index.ts';
import { ResourceStore } from '../../src/resources/store.ts';
import { exec } from '../cni/support.ts';
import type { Exec } from '../cni/support.ts';

const BIN = fileURLToPath(new URL('../../bin/brindlectl', import.meta.url));

interface Env {
  readonly dir: string;
  readonly config: string;
  readonly store: Store;
}

let env: Env | undefined;

test.before(async () => {
  const dir = await mkdtemp(join(tmpdir(), 'brindle-cli-ipam-'));
  const config = join(dir, 'brindle.yaml');
  writeFileSync(config, `nodeName: n1\ndatastore:\n  type: embedded\n  path: ${join(dir, 'store')}\n`);
  const store = await openStore({ backend: 'lmdb', path: join(dir, 'store') });
  const written = await new ResourceStore(store).write(
    {
      apiVersion: 'projectcalico.org/v3',
      kind: 'IPPool',
      metadata: { name: 'pool1' },
      spec: { cidr: '10.66.0.0/16', blockSize: 26, nodeSelector: 'all()' },
    },
    'apply',
  );
  if (!written.ok) throw new Error(written.errors.join('\n'));
  env = { dir, config, store };
});

test.after.always(async () => {
  await env?.store.close();
  if (env) await rm(env.dir, { recursive: true, force: true });
});

function current(): Env {
  if (!env) throw new Error('setup failed');
  return env;
}

function cli(...args: string[]): Promise<Exec> {
  return exec(process.execPath, {}, '', [BIN, '--config', current().config, ...args]);
}

test.serial('show, show --show-blocks and show --ip report usage', async (t) => {
  const client = new IpamClient({ store: current().store });
  const result = await client.autoAssign({
    node: 'n1',
    handleId: 'h.show',
    num4: 2,
    intendedUse: 'Workload',
  });
  const [a] = result.ipv4;

  const shown = await cli('ipam', 'show');
  t.is(shown.code, 0, shown.stderr);
  t.regex(shown.stdout, /^GROUPING\s+CIDR\s+IPS TOTAL\s+IPS IN USE\s+IPS FREE\n/);
  t.regex(shown.stdout, /IP Pool\s+10\.66\.0\.0\/16\s+65536\s+2 \(0%\)\s+65534 \(99%\)/);
  t.notRegex(shown.stdout, /Block/);

  const blocks = await cli('ipam', 'show', '--show-blocks');
  t.is(blocks.code, 0, blocks.stderr);
  t.regex(
    blocks.stdout,
    new RegExp(`Block\\s+${a.block.replace(/\./g, '\\.')}\\s+64\\s+2 \\(3%\\)\\s+62 \\(96%\\)`),
  );

  const one = await cli('ipam', 'show', '--ip', a.address);
  t.is(one.code, 0, one.stderr);
  t.true(one.stdout.startsWith(`IP ${a.address} is in use\n`), one.stdout);
  t.true(one.stdout.includes('Handle: h.show'));
  t.true(one.stdout.includes('node: n1'));

  await client.releaseByHandle('h.show');
  t.regex((await cli('ipam', 'show', '--ip', a.address)).stdout, /is not assigned/);
});

test.serial('release frees one address and fails for a free one', async (t) => {
  const client = new IpamClient({ store: current().store });
  const [a] = (await client.autoAssign({ node: 'n1', handleId: 'h.rel', num4: 1, intendedUse: 'Workload' }))
    .ipv4;
  const released = await cli('ipam', 'release', '--ip', a.address);
  t.is(released.code, 0, released.stderr);
  t.is(released.stdout, `Successfully released IP address ${a.address}\n`);
  const again = await cli('ipam', 'release', '--ip', a.address);
  t.is(again.code, 1);
  t.regex(again.stderr, /is not assigned/);
  const usage = await cli('ipam', 'release');
  t.is(usage.code, 2);
});

test.serial('check exits 1 on a problem; check --fix repairs it', async (t) => {
  const clean = await cli('ipam', 'check');
  t.is(clean.code, 0, clean.stdout + clean.stderr);
  t.regex(clean.stdout, /No problems found/);

  // A handle counting an address no block holds, last changed long ago: an interrupted assignment.
  const created = await new IpamDatastore(current().store).createHandle({
    handleId: 'h.leaked',
    block: { '10.66.0.0/26': 1 },
    updatedAt: 0,
  });
  t.true(created.ok);
  const found = await cli('ipam', 'check');
  t.is(found.code, 1);
  t.regex(found.stdout, /handle-mismatch/);
  t.regex(found.stdout, /Found 1 problem\(s\) \(run with --fix/);

  const fixed = await cli('ipam', 'check', '--fix');
  t.is(fixed.code, 0, fixed.stdout + fixed.stderr);
  t.regex(fixed.stdout, /FIXED handle-mismatch/);
  t.is((await cli('ipam', 'check')).code, 0);
});

test.serial('configure writes the IPAMConfiguration resource and keeps what it is not told', async (t) => {
  const first = await cli('ipam', 'configure', '--strictaffinity=true', '--max-blocks-per-host=4');
  t.is(first.code, 0, first.stderr);
  t.is(first.stdout, 'Successfully set StrictAffinity to: true\nSuccessfully set MaxBlocksPerHost to: 4\n');
  const second = await cli('ipam', 'configure', '--max-blocks-per-host=8');
  t.is(second.code, 0, second.stderr);
  const resource = await new ResourceStore(current().store).get('IPAMConfiguration', 'default');
  t.like(resource, { spec: { strictAffinity: true, maxBlocksPerHost: 8 } });
  // Validated as `apply` validates it: a block limit needs strictAffinity; nothing is written.
  const invalid = await cli('ipam', 'configure', '--strictaffinity=false');
  t.is(invalid.code, 1);
  t.regex(invalid.stderr, /maxBlocksPerHost/);
  t.like(await new ResourceStore(current().store).get('IPAMConfiguration', 'default'), {
    spec: { strictAffinity: true },
  });
  t.is((await cli('ipam', 'configure', '--strictaffinity=maybe')).code, 2);
  t.is((await cli('ipam', 'configure')).code, 2);
  t.is((await cli('ipam', 'show', '--fix')).code, 2);
});
