// BGP passwords from the resources' `secretKeyRef {name, key}`. Calico reads Kubernetes Secrets;
// Brindle runs without Kubernetes, so a secret is a file the operator controls:
// `<secrets.dir>/<name>/<key>` — the layout of a Kubernetes secret volume and of systemd credentials.
// A secret that cannot be used is an error on its peer, never a session without its password.
//
// The value is the file's bytes less one trailing newline (what `echo` adds). It must fit TCP MD5's
// 80-octet key (RFC 2385 via Linux TCP_MD5SIG_MAXKEYLEN), and the file must not be readable by
// others: a password anyone on the host can read protects nothing.

import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { SecretKeyRef } from '../resources/types.ts';

/** Linux TCP_MD5SIG_MAXKEYLEN. */
export const MAX_MD5_KEY_OCTETS = 80;

export type SecretRead =
  | { readonly ok: true; readonly value: string; readonly stamp: string }
  | { readonly ok: false; readonly reason: string; readonly stamp: string };

/** Kubernetes secret keys: `[-._a-zA-Z0-9]+`, never `.` or `..` (so never a path). */
const SECRET_KEY = /^[-._a-zA-Z0-9]+$/;

export function secretPath(dir: string, ref: SecretKeyRef): string | undefined {
  const safe = (part: string) => SECRET_KEY.test(part) && part !== '.' && part !== '..';
  return safe(ref.name) && safe(ref.key) ? join(dir, ref.name, ref.key) : undefined;
}

/** Reads one secret; `stamp` changes whenever the file does (for re-reading on change). */
export function readSecret(dir: string, ref: SecretKeyRef): SecretRead {
  const path = secretPath(dir, ref);
  const where = `secret ${ref.name}/${ref.key}`;
  if (path === undefined)
    return { ok: false, reason: `${where}: not a valid secret name and key`, stamp: '' };
  let stamp = 'absent';
  try {
    const stat = statSync(path);
    stamp = `${stat.ino}:${stat.size}:${stat.mtimeMs}:${stat.mode}`;
    if (!stat.isFile()) return { ok: false, reason: `${where}: ${path} is not a file`, stamp };
    if ((stat.mode & 0o004) !== 0)
      return { ok: false, reason: `${where}: ${path} is readable by others (chmod o-r it)`, stamp };
    const value = readFileSync(path, 'utf8').replace(/\r?\n$/, '');
    if (value === '') return { ok: false, reason: `${where}: ${path} is empty`, stamp };
    if (Buffer.byteLength(value) > MAX_MD5_KEY_OCTETS)
      return {
        ok: false,
        reason: `${where}: longer than the ${MAX_MD5_KEY_OCTETS} octets of a TCP MD5 key`,
        stamp,
      };
    return { ok: true, value, stamp };
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason =
      code === 'ENOENT'
        ? `no file ${path}`
        : code === 'EACCES'
          ? `${path}: permission denied`
          : String(error);
    return { ok: false, reason: `${where}: ${reason}`, stamp };
  }
}
