// Text golden files of the CLI tests, in test/cli/golden/: compared as they are; `UPDATE_GOLDEN=1`
// rewrites them from the current output instead (and only then).
import type { ExecutionContext } from 'ava';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const GOLDEN = fileURLToPath(new URL('golden/', import.meta.url));
const UPDATE_GOLDEN = process.env.UPDATE_GOLDEN === '1';

export function matchesGolden(t: ExecutionContext, name: string, actual: string): void {
  const file = `${GOLDEN}${name}`;
  if (UPDATE_GOLDEN) {
    mkdirSync(GOLDEN, { recursive: true });
    writeFileSync(file, actual);
    t.log(`wrote golden ${name}`);
    t.pass();
    return;
  }
  let expected: string;
  try {
    expected = readFileSync(file, 'utf8');
  } catch {
    t.fail(`golden file ${name} is missing; create it with UPDATE_GOLDEN=1 (see the test file's header)`);
    return;
  }
  t.is(actual, expected, `differs from golden ${name} (UPDATE_GOLDEN=1 rewrites it)`);
}
