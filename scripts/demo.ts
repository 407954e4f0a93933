// `npm run demo`: a small Brindle lab in network namespaces on this machine, for a first look at
// what Brindle does. One segment (100.64.0.0/24) joins a Brindle route reflector, two Brindle node
// speakers with a pod each (the real `ptp` CNI plugin with brindle-ipam) and a BIRD 2 top-of-rack
// router. The nodes learn each other's pod blocks through the reflector and program them into
// their kernels; the ToR learns every block. All the Brindles share one embedded datastore under
// .brindle/demo, so `brindlectl` reads it as it is.
//
//   npm run demo            build the lab, print what to try, tear it down on Ctrl-C
//   npm run demo -- down    tear down a lab left behind (the state file says what it made)
//
// Needs root (namespaces), BIRD 2 and the CNI plugins (installed with apt-get when missing). It
// touches nothing outside its namespaces and .brindle/demo.

import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const DIR = join(ROOT, '.brindle', 'demo');
const STATE = join(DIR, 'state.json');
const CNI_BIN = '/usr/lib/cni';
const PREFIX = 'brindle-demo';
const AS = 64512;
const TOR_AS = 65001;
const POOL = '10.244.0.0/16';
/** How long the lab may take to come up before the demo gives up and tears down. */
const UP_BOUND_MS = 60_000;

interface Host {
  readonly name: string;
  readonly address: string;
  readonly role: 'reflector' | 'node' | 'tor';
}

const HOSTS: readonly Host[] = [
  { name: 'tor', address: '100.64.0.1', role: 'tor' },
  { name: 'rr', address: '100.64.0.5', role: 'reflector' },
  { name: 'node1', address: '100.64.0.11', role: 'node' },
  { name: 'node2', address: '100.64.0.12', role: 'node' },
];
const PODS = [
  { name: 'pod1', node: 'node1' },
  { name: 'pod2', node: 'node2' },
];

interface State {
  namespaces: string[];
  pids: number[];
}

const netns = (name: string) => `${PREFIX}-${name}`;
const rel = (path: string) => relative(process.cwd(), path) || '.';

function sh(
  command: string,
  args: readonly string[],
  options: { ns?: string; input?: string; env?: NodeJS.ProcessEnv } = {},
) {
  const [file, argv] = options.ns
    ? ['ip', ['netns', 'exec', netns(options.ns), command, ...args]]
    : [command, args];
  const result = spawnSync(file, argv, {
    encoding: 'utf8',
    input: options.input,
    env: options.env,
    timeout: 30_000,
  });
  if (result.status !== 0)
    throw new Error(
      `${[command, ...args].join(' ')}: ${(result.stderr || result.stdout || String(result.error)).trim()}`,
    );
  return result.stdout;
}

function saveState(state: State): void {
  writeFileSync(STATE, JSON.stringify(state, null, 2));
}

// --- prerequisites ----------------------------------------------------------------------------------

function prerequisites(): void {
  if (process.getuid?.() !== 0) throw new Error('the demo makes network namespaces: run it as root');
  const missing = [
    ...(existsSync('/usr/sbin/bird') ? [] : ['bird2']),
    ...(existsSync(join(CNI_BIN, 'ptp')) ? [] : ['containernetworking-plugins']),
  ];
  if (missing.length === 0) return;
  console.log(`installing ${missing.join(', ')} (apt-get) …`);
  const install = () =>
    spawnSync('apt-get', ['install', '-y', '-q', ...missing], { stdio: 'inherit' }).status === 0;
  if (!install()) {
    spawnSync('apt-get', ['update', '-q'], { stdio: 'inherit' });
    if (!install()) throw new Error(`could not install ${missing.join(', ')}`);
  }
}

// --- the segment -------------------------------------------------------------------------------------

function buildSegment(state: State): void {
  for (const name of ['lan', ...HOSTS.map((h) => h.name), ...PODS.map((p) => p.name)]) {
    sh('ip', ['netns', 'add', netns(name)]);
    state.namespaces.push(netns(name));
    saveState(state);
    sh('ip', ['link', 'set', 'lo', 'up'], { ns: name });
  }
  sh('ip', ['link', 'add', 'br0', 'type', 'bridge'], { ns: 'lan' });
  sh('ip', ['link', 'set', 'br0', 'up'], { ns: 'lan' });
  for (const host of HOSTS) {
    const port = `p-${host.name}`;
    sh('ip', [
      'link',
      'add',
      port,
      'netns',
      netns('lan'),
      'type',
      'veth',
      'peer',
      'name',
      'eth0',
      'netns',
      netns(host.name),
    ]);
    sh('ip', ['link', 'set', port, 'master', 'br0', 'up'], { ns: 'lan' });
    sh('ip', ['addr', 'add', `${host.address}/24`, 'dev', 'eth0'], { ns: host.name });
    sh('ip', ['link', 'set', 'eth0', 'up'], { ns: host.name });
    sh('sysctl', ['-q', '-w', 'net.ipv4.ip_forward=1'], { ns: host.name });
  }
}

// --- configuration -----------------------------------------------------------------------------------

function brindleConfig(host: Host): string {
  return [
    `mode: ${host.role === 'reflector' ? 'reflector' : 'node'}`,
    `nodeName: ${host.name}`,
    `node: { ipv4Address: ${host.address}/24 }`,
    `datastore: { type: embedded, path: ${join(DIR, 'store')} }`,
    `bgp: { listenAddress: '${host.address}', listenPort: 179 }`,
    `api: { listen: '${host.address}:9179', socket: ${join(DIR, `${host.name}.sock`)} }`,
    'log: { level: info }',
    '',
  ].join('\n');
}

const RESOURCES = `apiVersion: projectcalico.org/v3
kind: BGPConfiguration
metadata: { name: default }
spec: { nodeToNodeMeshEnabled: false, asNumber: ${AS} }
---
apiVersion: projectcalico.org/v3
kind: Node
metadata: { name: rr, labels: { route-reflector: 'true' } }
spec: { bgp: { ipv4Address: 100.64.0.5/24, routeReflectorClusterID: 224.0.0.1 } }
---
apiVersion: projectcalico.org/v3
kind: BGPPeer
metadata: { name: peer-with-route-reflectors }
spec: { nodeSelector: all(), peerSelector: route-reflector == 'true' }
---
apiVersion: projectcalico.org/v3
kind: BGPPeer
metadata: { name: rack-tor }
spec: { nodeSelector: route-reflector == 'true', peerIP: 100.64.0.1, asNumber: ${TOR_AS} }
---
apiVersion: projectcalico.org/v3
kind: IPPool
metadata: { name: demo-pool }
spec: { cidr: ${POOL}, blockSize: 26 }
`;

function torConfig(): string {
  return `router id 100.64.0.1;
protocol device {}
protocol bgp reflector {
  local 100.64.0.1 as ${TOR_AS};
  neighbor 100.64.0.5 as ${AS};
  strict bind yes;
  ipv4 { import all; export none; };
}
`;
}

// --- processes ---------------------------------------------------------------------------------------

function start(
  state: State,
  ns: string,
  name: string,
  command: string,
  args: readonly string[],
): ChildProcess {
  const log = openSync(join(DIR, `${name}.log`), 'a');
  const child = spawn('ip', ['netns', 'exec', netns(ns), command, ...args], {
    stdio: ['ignore', log, log],
    cwd: ROOT,
    env: Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('BRINDLE_'))),
  });
  if (child.pid !== undefined) state.pids.push(child.pid);
  saveState(state);
  return child;
}

async function until<T>(what: string, probe: () => T | undefined, deadline: number): Promise<T> {
  for (let attempt = 0; Date.now() < deadline && attempt < 1_000; attempt++) {
    try {
      const value = probe();
      if (value !== undefined) return value;
    } catch {
      // Not there yet.
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out waiting for ${what} (logs in ${rel(DIR)})`);
}

function addPod(pod: { name: string; node: string }, cniPath: string): string {
  const conf = JSON.stringify({
    cniVersion: '1.0.0',
    name: 'brindle-demo',
    type: 'ptp',
    ipam: { type: 'brindle-ipam', config: join(DIR, `${pod.node}.yaml`) },
  });
  const out = sh(join(CNI_BIN, 'ptp'), [], {
    ns: pod.node,
    input: conf,
    env: {
      ...process.env,
      CNI_COMMAND: 'ADD',
      CNI_CONTAINERID: `${PREFIX}-${pod.name}`,
      CNI_NETNS: `/run/netns/${netns(pod.name)}`,
      CNI_IFNAME: 'eth0',
      CNI_PATH: `${cniPath}:${CNI_BIN}`,
    },
  });
  const result = JSON.parse(out) as { ips: { address: string }[] };
  return result.ips[0].address.split('/')[0];
}

// --- up and down ---------------------------------------------------------------------------------------

async function up(): Promise<void> {
  const began = Date.now();
  prerequisites();
  if (existsSync(STATE)) down();
  mkdirSync(DIR, { recursive: true });
  const state: State = { namespaces: [], pids: [] };
  saveState(state);
  const stop = () => {
    console.log('\ntearing the lab down …');
    down();
    process.exit(0);
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  try {
    buildSegment(state);
    for (const host of HOSTS.filter((h) => h.role !== 'tor'))
      writeFileSync(join(DIR, `${host.name}.yaml`), brindleConfig(host));
    writeFileSync(join(DIR, 'resources.yaml'), RESOURCES);
    writeFileSync(join(DIR, 'tor.conf'), torConfig());
    const ctl = join(ROOT, 'bin', 'brindlectl');
    sh(process.execPath, [ctl, '--config', join(DIR, 'rr.yaml'), 'apply', '-f', join(DIR, 'resources.yaml')]);
    start(state, 'tor', 'tor', 'bird', ['-f', '-c', join(DIR, 'tor.conf'), '-s', join(DIR, 'tor.ctl')]);
    for (const host of HOSTS.filter((h) => h.role !== 'tor'))
      start(state, host.name, host.name, process.execPath, [
        join(ROOT, 'bin', 'brindle'),
        '--config',
        join(DIR, `${host.name}.yaml`),
      ]);
    const deadline = began + UP_BOUND_MS;
    const cniPath = join(DIR, 'cni');
    mkdirSync(cniPath, { recursive: true });
    symlinkSync(join(ROOT, 'bin', 'brindle-ipam'), join(cniPath, 'brindle-ipam'));
    const addresses = await until('the pods', () => PODS.map((pod) => addPod(pod, cniPath)), deadline);
    // The first route: node1's kernel reaches pod2's block through node2.
    await until(
      "node1's route to pod2's block",
      () =>
        sh('ip', ['route', 'show', 'proto', '205', 'via', '100.64.0.12'], { ns: 'node1' }).trim() ||
        undefined,
      deadline,
    );
    const seconds = ((Date.now() - began) / 1000).toFixed(1);
    // And the ToR holds both blocks, learned from the reflector.
    await until(
      'the ToR to learn both pod blocks',
      () =>
        /2 of \d+ routes/.test(sh('birdc', ['-s', join(DIR, 'tor.ctl'), 'show', 'route', 'count']))
          ? true
          : undefined,
      deadline,
    );
    printNext(addresses, seconds);
  } catch (error) {
    console.error(`demo: ${error instanceof Error ? error.message : String(error)}`);
    down();
    process.exit(1);
  }
  // Runs until Ctrl-C (or SIGTERM): the handlers tear down.
  await new Promise(() => undefined);
}

function printNext(addresses: readonly string[], seconds: string): void {
  const ctl = (host: string) => `bin/brindlectl --config ${rel(join(DIR, `${host}.yaml`))}`;
  console.log(`
The lab is up (first route after ${seconds} s): a Brindle reflector (rr, 100.64.0.5), two Brindle nodes
(node1 .11, node2 .12) with one pod each, and a BIRD top-of-rack router (tor, .1), all in AS ${AS}
but the ToR (AS ${TOR_AS}). Try:

  ${ctl('rr')} status            # the reflector's sessions
  ${ctl('rr')} routes -o wide    # every pod block, reflected
  ${ctl('node1')} fib            # what node1 put in its kernel
  ${ctl('node1')} ipam show --show-blocks
  ip netns exec ${netns('pod1')} ping -c 3 ${addresses[1]}     # pod1 (${addresses[0]}) → pod2
  ip netns exec ${netns('node1')} ip route show proto 205
  birdc -s ${rel(join(DIR, 'tor.ctl'))} show route             # what the ToR learned

Logs: ${rel(DIR)}/*.log. Ctrl-C tears everything down (or: npm run demo -- down).`);
}

/** Ends the lab's processes by PID and deletes its namespaces and files; safe to run twice. */
function down(): void {
  if (!existsSync(STATE)) {
    console.log('no demo lab to tear down');
    return;
  }
  const state = JSON.parse(readFileSync(STATE, 'utf8')) as State;
  for (const pid of state.pids) {
    try {
      // `ip netns exec` execs the program, so the PID is the daemon's own.
      process.kill(pid, 'SIGTERM');
    } catch {
      // Already gone.
    }
  }
  waitForExit(state.pids);
  for (const ns of [...state.namespaces].reverse()) spawnSync('ip', ['netns', 'delete', ns]);
  rmSync(DIR, { recursive: true, force: true });
  console.log(`removed ${state.namespaces.length} namespaces and ${state.pids.length} processes`);
}

/** Waits (at most 6 s) for the processes to exit after SIGTERM, then SIGKILLs what is left. */
function waitForExit(pids: readonly number[]): void {
  const alive = (pid: number) => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  for (let i = 0; i < 30 && pids.some(alive); i++) spawnSync('sleep', ['0.2']);
  for (const pid of pids.filter(alive)) process.kill(pid, 'SIGKILL');
}

const command = process.argv[2] ?? 'up';
if (command === 'down') down();
else if (command === 'up') await up();
else {
  console.error('usage: npm run demo [-- up|down]');
  process.exit(2);
}
