// Names Brindle's route protocol number for iproute2, so `ip route` prints `proto brindle` instead of
// `proto 205`: one line in /etc/iproute2/rt_protos.d/brindle.conf (iproute2 reads rt_protos, then
// every *.conf in rt_protos.d; for a number named twice the file read last wins, in readdir order).
// For the install script; the engine works with the number alone.

import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { DEFAULT_FIB_PROTOCOL } from './types.ts';

export const RT_PROTOS_DIR = '/etc/iproute2/rt_protos.d';
export const PROTOCOL_NAME = 'brindle';

export interface RtProtosOptions {
  readonly protocol?: number;
  readonly name?: string;
  /** The rt_protos.d directory (default /etc/iproute2/rt_protos.d); its parent holds rt_protos. */
  readonly dir?: string;
}

/** Another file naming our number differently: `ip route` may show that name instead. FRR's
 * rt_protos.d/frr.conf, for one, names 186-197 (196 is zebra's "static"); Brindle uses 205. */
export interface ProtocolNameConflict {
  readonly file: string;
  readonly name: string;
}

export interface RegisterResult {
  readonly file: string;
  /** False when the file already said exactly this. */
  readonly written: boolean;
  readonly conflicts: readonly ProtocolNameConflict[];
}

function settings(options: RtProtosOptions) {
  const protocol = options.protocol ?? DEFAULT_FIB_PROTOCOL;
  const name = options.name ?? PROTOCOL_NAME;
  if (!Number.isInteger(protocol) || protocol < 1 || protocol > 255) {
    throw new RangeError(`route protocol ${protocol} is outside 1..255`);
  }
  if (!/^[A-Za-z][A-Za-z0-9_.-]*$/.test(name))
    throw new TypeError(`bad protocol name ${JSON.stringify(name)}`);
  const dir = options.dir ?? RT_PROTOS_DIR;
  return { protocol, name, dir, file: join(dir, `${name}.conf`) };
}

/** The file's text: "205\tbrindle" under a comment saying who wrote it. */
export function rtProtosEntry(protocol = DEFAULT_FIB_PROTOCOL, name = PROTOCOL_NAME): string {
  return `# Written by Brindle: the rtm_protocol of its kernel routes (fib.protocol).\n${protocol}\t${name}\n`;
}

/** "number name" lines of an rt_protos file (decimal or 0x hex, # comments). */
export function parseRtProtos(text: string): Map<number, string> {
  const names = new Map<number, string>();
  for (const line of text.split('\n')) {
    const match = /^\s*(0x[0-9a-f]+|\d+)\s+([^\s#]+)/i.exec(line);
    if (match) names.set(Number(match[1]), match[2]);
  }
  return names;
}

async function readText(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch {
    return undefined;
  }
}

/** Other rt_protos files that name `protocol` with a different name. */
export async function protocolNameConflicts(options: RtProtosOptions = {}): Promise<ProtocolNameConflict[]> {
  const { protocol, name, dir, file } = settings(options);
  const files = [join(dirname(dir), 'rt_protos')];
  try {
    for (const entry of (await readdir(dir)).sort())
      if (entry.endsWith('.conf')) files.push(join(dir, entry));
  } catch {
    // No rt_protos.d yet.
  }
  const conflicts: ProtocolNameConflict[] = [];
  for (const other of files) {
    if (other === file) continue;
    const named = parseRtProtos((await readText(other)) ?? '').get(protocol);
    if (named !== undefined && named !== name) conflicts.push({ file: other, name: named });
  }
  return conflicts;
}

/** Writes `<dir>/<name>.conf` (atomically, only when its text differs) and reports conflicts. */
export async function registerProtocolName(options: RtProtosOptions = {}): Promise<RegisterResult> {
  const { protocol, name, dir, file } = settings(options);
  const text = rtProtosEntry(protocol, name);
  const conflicts = await protocolNameConflicts(options);
  if ((await readText(file)) === text) return { file, written: false, conflicts };
  await mkdir(dir, { recursive: true });
  const temporary = `${file}.${process.pid}.tmp`;
  await writeFile(temporary, text, { mode: 0o644 });
  await rename(temporary, file);
  return { file, written: true, conflicts };
}

/** Removes the file if it is ours (names our number); true when something was removed. */
export async function unregisterProtocolName(options: RtProtosOptions = {}): Promise<boolean> {
  const { protocol, name, file } = settings(options);
  const text = await readText(file);
  if (text === undefined || parseRtProtos(text).get(protocol) !== name) return false;
  await rm(file, { force: true });
  return true;
}
