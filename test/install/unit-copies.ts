// The systemd units as `systemd-analyze verify` can check them offline (no systemd runs as PID 1 in
// the test machine): copies with the install prefix /usr/lib/brindle/ rewritten to where the package
// tree really is — a checkout, a DESTDIR install, a scratch root — so verify also proves that
// ExecStart and ExecStartPost name executables that exist there.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export const UNITS = ['brindle-node.service', 'brindle-reflector.service'];
const INSTALL_PREFIX = '/usr/lib/brindle/';

/** Writes each unit of `unitDir` into `into` with the prefix pointing at `tree`; returns their paths. */
export function unitCopies(unitDir: string, tree: string, into: string): Promise<string[]> {
  return Promise.all(
    UNITS.map(async (unit) => {
      const text = await readFile(join(unitDir, unit), 'utf8');
      const path = join(into, unit);
      await writeFile(path, text.split(INSTALL_PREFIX).join(`${tree.replace(/\/$/, '')}/`));
      return path;
    }),
  );
}
