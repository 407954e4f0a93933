// `npm run demo` as a newcomer runs it: the lab comes up, every command it prints works exactly as
// printed (run from the checkout, as the newcomer would), the pods reach each other, and Ctrl-C
// leaves no namespace, process or file behind.

import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import test from 'ava';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const UP_BOUND_MS = 90_000;

const demoNamespaces = () =>
  spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' })
    .stdout.split('\n')
    .filter((line) => line.startsWith('brindle-demo-'));

test('npm run demo: up, every printed command works, Ctrl-C tears it all down', async (t) => {
  t.timeout(UP_BOUND_MS + 60_000);
  // A process group of its own, so Ctrl-C is what a terminal sends: SIGINT to the whole group.
  const demo = spawn('npm', ['run', '--silent', 'demo'], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  const ctrlC = () => process.kill(-demo.pid!, 'SIGINT');
  let stdout = '';
  let stderr = '';
  demo.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  demo.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<string>((resolve) =>
    demo.on('exit', (code, signal) => resolve(signal ?? String(code))),
  );
  t.teardown(async () => {
    if (demo.exitCode === null && demo.signalCode === null) ctrlC();
    await exited;
    if (demoNamespaces().length > 0)
      spawnSync('npm', ['run', '--silent', 'demo', '--', 'down'], { cwd: ROOT });
  });

  const deadline = Date.now() + UP_BOUND_MS;
  while (!stdout.includes('Ctrl-C tears everything down') && demo.exitCode === null && Date.now() < deadline)
    await new Promise((r) => setTimeout(r, 250));
  t.true(stdout.includes('The lab is up'), `${stdout}\n${stderr}`);
  const seconds = Number(/first route after ([\d.]+) s/.exec(stdout)?.[1]);
  t.log(`first route after ${seconds} s`);

  // Every line of the "Try:" block, without its comment, as a shell would run it.
  const commands = stdout
    .split('\n')
    .filter((line) => /^ {2}(bin\/brindlectl|ip netns|birdc) /.test(line))
    .map((line) => line.replace(/\s+#.*$/, '').trim());
  t.is(commands.length, 7, stdout);
  for (const command of commands) {
    const result = spawnSync('sh', ['-c', command], { cwd: ROOT, encoding: 'utf8', timeout: 30_000 });
    t.is(result.status, 0, `${command}\n${result.stdout}\n${result.stderr}`);
    if (command.includes('ping')) t.regex(result.stdout, / 0% packet loss/);
    if (command.includes('status')) t.regex(result.stdout, /100\.64\.0\.1 .* up /);
    if (command.startsWith('birdc'))
      t.is(result.stdout.match(/unicast \[reflector/g)?.length, 2, result.stdout);
  }

  ctrlC();
  // npm itself dies of the signal; the demo under it tears down, then exits.
  t.true(['0', 'SIGINT'].includes(await exited), stderr);
  for (let i = 0; i < 75 && (demoNamespaces().length > 0 || existsSync(`${ROOT}.brindle/demo`)); i++)
    await new Promise((r) => setTimeout(r, 200));
  t.deepEqual(demoNamespaces(), []);
  t.false(existsSync(`${ROOT}.brindle/demo`));
});
