import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { textLine } from '../../src/lib/log.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

test('a record as one readable line: time, level name, message, then the fields', (t) => {
  const record = {
    level: 40,
    time: '2026-12-07T05:17:03.123Z',
    service: 'brindle',
    peer: 'Node_10_0_0_1',
    reason: 'received Cease/Administrative Shutdown "maintenance"',
    count: 3,
    msg: 'session Established -> Idle',
  };
  t.is(
    textLine(record, false),
    '05:17:03.123 WARN  session Established -> Idle  peer=Node_10_0_0_1 reason="received Cease/Administrative Shutdown \\"maintenance\\"" count=3\n',
  );
  t.is(
    textLine({ level: 50, time: '2026-12-07T05:17:03.123Z', msg: 'x' }, true),
    '05:17:03.123 \x1b[31mERROR\x1b[0m x\n',
  );
});

test('log.format picks the rendering: text lines or JSON lines', (t) => {
  const run = (format: string) =>
    spawnSync(
      process.execPath,
      [
        '--import=tsx',
        '-e',
        "import('./src/lib/log.ts').then(({ createLogger }) => createLogger('info', process.argv[1]).info({ peer: 'p1' }, 'hello'))",
        format,
      ],
      { cwd: ROOT, encoding: 'utf8' },
    ).stdout;
  t.regex(run('text'), /^\d\d:\d\d:\d\d\.\d{3} INFO {2}hello {2}peer=p1\n$/);
  t.like(JSON.parse(run('json')) as object, { level: 30, msg: 'hello', peer: 'p1' });
  // auto: stdout here is a pipe, not a terminal, so JSON.
  t.like(JSON.parse(run('auto')) as object, { msg: 'hello' });
});
