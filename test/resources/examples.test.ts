import test from 'ava';
import { readdirSync, readFileSync } from 'node:fs';
import { formatValidationError, parseResources } from '../../src/resources/index.ts';

const EXAMPLES = new URL('../../config/examples/', import.meta.url);

test('every example resource in config/examples parses and validates with zero errors', (t) => {
  const files = readdirSync(EXAMPLES).filter((f) => f.endsWith('.yaml') || f.endsWith('.json'));
  t.true(files.length >= 5);
  for (const file of files) {
    const { resources, errors } = parseResources(readFileSync(new URL(file, EXAMPLES), 'utf8'), file);
    t.deepEqual(errors.map(formatValidationError), [], file);
    t.true(resources.length > 0, file);
  }
});
