// The control socket's file: created mode 0660 (owner and group: the operators in the daemon's group),
// a stale file left by a process that died is replaced, a live one (another Brindle) is not, and
// anything that is not a socket is never touched. On stop the file is removed only if it is still
// the one this process created.

import { chmodSync, lstatSync, mkdirSync, unlinkSync } from 'node:fs';
import type { Server } from 'node:net';
import { createConnection } from 'node:net';
import { dirname } from 'node:path';

export const SOCKET_MODE = 0o660;
/** A stale socket refuses at once; one that neither accepts nor refuses within this is held by someone. */
const PROBE_TIMEOUT_MS = 1000;

/** Whether a process accepts connections on the socket file. */
function socketAnswers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createConnection({ path });
    const done = (answer: boolean) => {
      clearTimeout(timer);
      probe.destroy();
      resolve(answer);
    };
    const timer = setTimeout(() => done(true), PROBE_TIMEOUT_MS);
    probe.once('connect', () => done(true));
    probe.once('error', () => done(false));
  });
}

/** Makes `path` free for a new socket, or throws saying why it cannot be. */
export async function claimSocketPath(path: string): Promise<void> {
  mkdirSync(dirname(path), { recursive: true, mode: 0o750 });
  let stat;
  try {
    stat = lstatSync(path);
  } catch {
    return;
  }
  if (!stat.isSocket()) throw new Error(`${path} exists and is not a socket; not replacing it`);
  if (await socketAnswers(path)) throw new Error(`${path} is in use (is another brindle running?)`);
  unlinkSync(path);
}

/** Listens on the socket file with mode 0660 from the moment it exists; returns its inode. */
export async function listenUnix(server: Server, path: string): Promise<number> {
  await claimSocketPath(path);
  const listening = new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.once('listening', () => {
      server.off('error', reject);
      resolve();
    });
  });
  // bind() creates the file with the process umask applied, synchronously inside listen(): narrow the
  // umask for that one call so the socket is never reachable by others, then set the mode exactly.
  const umask = process.umask(0o117);
  try {
    server.listen(path);
  } finally {
    process.umask(umask);
  }
  await listening;
  chmodSync(path, SOCKET_MODE);
  return lstatSync(path).ino;
}

/** Removes the socket file if it is still the one with this inode. */
export function removeSocketFile(path: string, inode: number): void {
  try {
    if (lstatSync(path).ino === inode) unlinkSync(path);
  } catch {
    // Already gone.
  }
}
