// The layering of src/, checked by `npm run lint` (dependency-cruiser): a folder may import only the
// folders its row names, so every wrong-way import fails, and because the table is a strict order
// (each row names only folders above it) no cycle between folders can form. Cycles between modules
// inside a folder fail too. docs/architecture.md explains each folder; change the two together.
//
// `bgp` is src/bgp/*.ts (constants, message types, errors); its subfolders are separate rows.

/** folder → the folders it may import (besides itself, node: built-ins and production packages). */
const LAYERS = {
  lib: [],
  bgp: ['lib'],
  'bgp/codec': ['lib', 'bgp'],
  'bgp/session': ['lib', 'bgp', 'bgp/codec'],
  bfd: ['lib'],
  datastore: ['lib'],
  resources: ['lib', 'bgp', 'datastore'],
  config: ['lib', 'datastore'],
  rib: ['lib', 'bgp', 'bgp/codec', 'bgp/session'],
  reflector: ['lib', 'bgp', 'bgp/session', 'rib', 'resources'],
  policy: ['lib', 'bgp', 'rib', 'resources'],
  ipam: ['lib', 'datastore', 'resources'],
  fib: ['lib'],
  metrics: ['lib', 'bgp', 'bgp/session', 'bfd', 'datastore', 'rib', 'ipam', 'fib'],
  daemon: [
    'lib',
    'bgp',
    'bgp/codec',
    'bgp/session',
    'bfd',
    'datastore',
    'resources',
    'config',
    'rib',
    'reflector',
    'policy',
    'ipam',
    'fib',
  ],
  api: [
    'lib',
    'bgp',
    'bgp/codec',
    'bgp/session',
    'bfd',
    'datastore',
    'resources',
    'config',
    'rib',
    'ipam',
    'fib',
    'metrics',
  ],
  cli: ['lib', 'datastore', 'resources', 'config', 'ipam'],
  cni: ['lib', 'datastore', 'config', 'ipam'],
  main: ['lib', 'datastore', 'resources', 'config', 'reflector', 'ipam', 'metrics', 'daemon', 'api', 'cni'],
  ui: [],
};

/** The path pattern of one folder: `bgp` is only its own files, every other folder is its subtree. */
const folderPath = (folder) => (folder === 'bgp' ? '^src/bgp/[^/]+$' : `^src/${folder}/`);

module.exports = {
  forbidden: [
    {
      name: 'no-module-cycle',
      comment: 'Modules do not import each other in a circle.',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    {
      name: 'no-dev-dependency-in-src',
      comment: 'src/ is what ships: it imports only production dependencies.',
      severity: 'error',
      from: { path: '^src/' },
      to: { dependencyTypes: ['npm-dev'] },
    },
    {
      name: 'not-to-unresolvable',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  // Anything no `allowed` rule covers is an error: an import the table does not list, or a folder it
  // does not know.
  allowed: Object.entries(LAYERS)
    .map(([folder, uses]) => ({
      from: { path: folderPath(folder) },
      to: { path: [folder, ...uses].map(folderPath) },
    }))
    .concat([
      { from: { path: '^src/' }, to: { dependencyTypes: ['core', 'npm', 'type-only'], pathNot: '^src/' } },
    ]),
  allowedSeverity: 'error',
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      extensions: ['.ts', '.js'],
      conditionNames: ['import', 'require', 'node', 'default'],
      exportsFields: ['exports'],
    },
  },
};
