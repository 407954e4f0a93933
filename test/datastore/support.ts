// Helpers shared by the datastore tests: bounded event collection, temp dirs, child processes.

import { fork } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import type { ExecutionContext } from 'ava';
import { firstValueFrom, takeWhile, tap, timeout, toArray } from 'rxjs';
import type { Observable } from 'rxjs';

import type { Store, WatchEvent } from '../../src/datastore/store.ts';

export const WAIT_MS = 15_000;

/**
 * Every event up to and including the first one that matches `last`, within `timeoutMs`. Writing a
 * sentinel key last and waiting for it proves that nothing before it is still on its way.
 */
export async function collectUntil<T>(
  source: Observable<T>,
  last: (value: T) => boolean,
  timeoutMs = WAIT_MS,
): Promise<T[]> {
  const seen: T[] = [];
  try {
    return await firstValueFrom(
      source.pipe(
        tap((value) => seen.push(value)),
        takeWhile((value) => !last(value), true),
        toArray(),
        timeout(timeoutMs),
      ),
    );
  } catch (error) {
    const got = JSON.stringify(seen).slice(0, 2_000);
    throw new Error(`${(error as Error).message}; received so far: ${got}`, { cause: error });
  }
}

export function collectUntilKey(
  store: Store,
  prefix: string,
  from: number,
  key: string,
): Promise<WatchEvent[]> {
  return collectUntil(store.watch(prefix, from), (event) => event.key === key);
}

/** How the watch ended: resolves with the error, or rejects if it did not fail within `timeoutMs`. */
export async function watchFailure(source: Observable<unknown>, timeoutMs = WAIT_MS): Promise<unknown> {
  try {
    await firstValueFrom(source.pipe(toArray(), timeout(timeoutMs)));
  } catch (error) {
    return error;
  }
  throw new Error('the watch completed instead of failing');
}

/** A promise that must settle within `ms`; a hang fails the test instead of stalling it. */
export async function settlesWithin<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, hang]);
  } finally {
    clearTimeout(timer);
  }
}

export async function tempDir(t: ExecutionContext, tag: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `brindle-${tag}-`));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

export function json(value: unknown): string {
  return JSON.stringify(value);
}

// ---------------------------------------------------------------------------------------------------
// Child processes (lmdb-child.ts)

/** Messages lmdb-child.ts sends over IPC. */
export type ChildMessage =
  | { readonly type: 'ack'; readonly key: string; readonly value: string; readonly revision: number }
  | { readonly type: 'done' }
  | { readonly type: 'failed'; readonly message: string };

export interface Child {
  readonly process: ChildProcess;
  readonly messages: ChildMessage[];
  /** Resolves when the child says 'done'; rejects when it fails or exits first. */
  readonly done: Promise<void>;
  readonly exited: Promise<number | null>;
}

const CHILD_SCRIPT = fileURLToPath(new URL('./lmdb-child.ts', import.meta.url));

/** Fork lmdb-child.ts (`node --import tsx`); it is SIGKILLed in teardown if still running. */
export function forkChild(t: ExecutionContext, args: readonly string[]): Child {
  const child = fork(CHILD_SCRIPT, [...args], { execArgv: ['--import', 'tsx'], stdio: 'inherit' });
  const messages: ChildMessage[] = [];
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const done = new Promise<void>((resolve, reject) => {
    child.on('message', (message: ChildMessage) => {
      messages.push(message);
      if (message.type === 'done') resolve();
      if (message.type === 'failed') reject(new Error(`child failed: ${message.message}`));
    });
    void exited.then((code) => reject(new Error(`child exited with ${code} before it was done`)));
  });
  done.catch(() => undefined); // Observed by the test when it cares; a killed child is expected.
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  });
  return { process: child, messages, done, exited };
}

export function acks(child: Child): Extract<ChildMessage, { type: 'ack' }>[] {
  return child.messages.filter((m): m is Extract<ChildMessage, { type: 'ack' }> => m.type === 'ack');
}
