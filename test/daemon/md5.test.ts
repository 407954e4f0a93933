// TCP MD5 passwords from the resources (BGPPeer.password.secretKeyRef → <secrets.dir>/<name>/<key>)
// against real BIRD 2 and FRR configured with the same key: the session comes up; a changed secret is
// read again (without a reload) and restarts the session with the new key, which the peer refuses
// when it is wrong; the right key brings it back; a secret that is missing or readable by others is
// an error on the peer (brindlectl peers, brindle_bgp_peer_config_error), never a session without
// its password.

import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { brindlectl, cleanEnv } from '../helpers/brindle.ts';
import { interopNetwork } from '../helpers/interop.ts';
import { startDaemon, waitFor, withCleanup } from '../helpers/netns.ts';
import type { Cleanup } from '../helpers/netns.ts';
import { startBird, startFrr } from '../helpers/peers.ts';
import type { PeerHandle, PeerOptions } from '../helpers/peers.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const KEY = 'brindle-md5-s3cret';
const API_PORT = 19_179;

interface Lab {
  readonly config: string;
  readonly secret: string;
  readonly peer: PeerHandle;
  readonly brindle4: string;
  readonly peer4: string;
  readonly pid: number;
}

async function peerView(lab: Lab): Promise<{ state: string; lastError?: string }> {
  const view = JSON.parse(await brindlectl(lab.config, 'peers', lab.peer4, '-o', 'json')) as {
    state: string;
    lastError: { message: string } | null;
  };
  return { state: view.state, lastError: view.lastError?.message };
}

function metrics(address: string): Promise<string> {
  return new Promise((resolve, reject) => {
    request({ host: address, port: API_PORT, path: '/metrics' }, (response) => {
      let body = '';
      response.on('data', (chunk: Buffer) => (body += chunk.toString()));
      response.on('end', () => resolve(body));
    })
      .on('error', reject)
      .end();
  });
}

async function lab(
  t: ExecutionContext,
  index: number,
  start: (options: PeerOptions, cleanup: Cleanup) => Promise<PeerHandle>,
): Promise<Lab> {
  const cleanup = withCleanup(t);
  const net = await interopNetwork(index, `md5-${index}`);
  cleanup.add(() => net.cleanup.run());
  const dir = await mkdtemp(join(tmpdir(), 'brindle-md5-'));
  cleanup.add(() => rm(dir, { recursive: true, force: true }));
  const secrets = join(dir, 'secrets');
  await mkdir(join(secrets, 'bgp'), { recursive: true });
  const secret = join(secrets, 'bgp', 'tor');
  await writeFile(secret, `${KEY}\n`, { mode: 0o600 });
  const config = join(dir, 'brindle.yaml');
  await writeFile(
    config,
    [
      'mode: reflector',
      'nodeName: md5',
      `node: { ipv4Address: ${net.brindle4}/24 }`,
      `datastore: { type: embedded, path: ${join(dir, 'store')} }`,
      `bgp: { listenAddress: ${net.brindle4}, listenPort: 17997 }`,
      `api: { listen: '${net.brindle4}:${API_PORT}', socket: ${join(dir, 'brindle.sock')} }`,
      `secrets: { dir: ${secrets} }`,
      'fib: { enabled: false }',
      '',
    ].join('\n'),
  );
  const resources = join(dir, 'resources.yaml');
  await writeFile(
    resources,
    `apiVersion: projectcalico.org/v3
kind: BGPConfiguration
metadata: { name: default }
spec: { asNumber: 64512, nodeToNodeMeshEnabled: false }
---
apiVersion: projectcalico.org/v3
kind: BGPPeer
metadata: { name: tor }
spec:
  peerIP: ${net.peer4}
  asNumber: 65001
  password: { secretKeyRef: { name: bgp, key: tor } }
`,
  );
  await brindlectl(config, 'apply', '-f', resources);
  const peer = await start(
    {
      netns: net.netns,
      routerId: net.peer4,
      localAddress: net.peer4,
      asn: 65001,
      neighbors: [{ address: net.brindle4, asn: 64512, passive: true, families: ['ipv4'], password: KEY }],
    },
    cleanup,
  );
  const daemon = startDaemon(
    process.execPath,
    [join(ROOT, 'bin/brindle'), '--config', config],
    { name: 'brindle-md5', cwd: ROOT, env: cleanEnv() },
    cleanup,
  );
  return { config, secret, peer, brindle4: net.brindle4, peer4: net.peer4, pid: daemon.pid };
}

async function scenario(t: ExecutionContext, lab: Lab): Promise<void> {
  // The same key on both sides: up.
  await lab.peer.waitEstablished(lab.brindle4, 45_000);
  t.is((await peerView(lab)).state, 'Established');

  // A wrong key, noticed on its own (the secret is re-read on change): the session restarts with
  // it, and the peer's kernel drops every segment signed with it.
  await writeFile(lab.secret, 'not-the-key\n', { mode: 0o600 });
  await waitFor(async () => (await peerView(lab)).state !== 'Established', {
    timeoutMs: 25_000,
    what: 'the session to restart with the changed key',
  });
  await new Promise((r) => setTimeout(r, 4_000));
  t.not((await peerView(lab)).state, 'Established', 'a wrong key never establishes');

  // The right key again, applied at once by a reload.
  await writeFile(lab.secret, `${KEY}\n`, { mode: 0o600 });
  process.kill(lab.pid, 'SIGHUP');
  await lab.peer.waitEstablished(lab.brindle4, 45_000);

  // Readable by others: refused, and said so — no session without the password.
  await chmod(lab.secret, 0o644);
  process.kill(lab.pid, 'SIGHUP');
  await waitFor(async () => /readable by others/.test((await peerView(lab)).lastError ?? ''), {
    timeoutMs: 20_000,
    what: 'the secret error on the peer',
  });
  const view = await peerView(lab);
  t.not(view.state, 'Established');
  t.regex(view.lastError ?? '', /TCP MD5 password: secret bgp\/tor: .* is readable by others/);
  t.regex(
    await metrics(lab.brindle4),
    /brindle_bgp_peer_config_error\{peer="[^"]+",remote="100\.64\.\d+\.2"\} 1/,
  );
}

test('BIRD 2: the secret key brings the session up, a changed key restarts it, a bad secret is an error', async (t) => {
  await scenario(t, await lab(t, 24, startBird));
});

test('FRR: the secret key brings the session up, a changed key restarts it, a bad secret is an error', async (t) => {
  await scenario(t, await lab(t, 25, startFrr));
});
