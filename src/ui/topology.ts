// Topology: the cluster as its resources define it (GET /api/v1/ui/topology) — route reflectors on the
// inner ring, nodes around them, external peers (ToRs) outside — with every session the resources ask
// for as a line. The lines this daemon is an end of carry its sessions' live state (green Established,
// amber on the way, red dashed Idle), so mesh versus reflectors and a dead session show at once; the
// rest are drawn thin: what the resources want between other nodes, whose state this daemon cannot
// see. A daemon that serves no cluster view (or has not read its resources yet) draws its own sessions
// around itself. SVG built with DOM calls; names are text nodes.

import { ApiError, at, getJson, list, num, text } from './api.ts';
import { h, svg } from './dom.ts';

const SIZE = 720;
const CENTRE = SIZE / 2;
const RING = { reflector: 120, node: 230, external: 315 } as const;
/** Above this many circles, names go into tooltips only. */
const MAX_LABELS = 60;

type Role = keyof typeof RING;

interface Vertex {
  readonly id: string;
  readonly label: string;
  readonly role: Role;
  readonly addresses: readonly string[];
  x: number;
  y: number;
}

interface Session {
  readonly name: string;
  readonly remote: string;
  readonly state: string;
  readonly type: string;
}

export async function renderTopology(main: HTMLElement): Promise<void> {
  const [status, overview] = await Promise.all([getJson('/api/v1/status'), getJson('/api/v1/ui/overview')]);
  const sessions: Session[] = list(at(status, 'peers')).map((p) => ({
    name: text(at(p, 'name')),
    remote: text(at(p, 'remote')),
    state: text(at(p, 'state')),
    type: text(at(p, 'type')),
  }));
  const graph = at(overview, 'views', 'topology') === true ? await clusterGraph() : undefined;
  if (graph === undefined) {
    main.append(
      h('p', { class: 'muted' }, 'No cluster view from the resources yet: this daemon’s sessions only.'),
      sessionStar(sessions, text(at(overview, 'role')), text(at(status, 'router', 'localAs'))),
      legend(),
    );
    return;
  }
  main.append(...clusterPicture(graph, sessions), legend());
}

/** The cluster graph, or undefined while the daemon has not read its resources (503). */
async function clusterGraph(): Promise<unknown> {
  try {
    return await getJson('/api/v1/ui/topology');
  } catch (error) {
    if (error instanceof ApiError && error.status === 503) return undefined;
    throw error;
  }
}

interface EdgeSpec {
  readonly from: Vertex;
  readonly to: Vertex;
  readonly kind: string;
  readonly session?: Session;
}

function clusterPicture(graph: unknown, sessions: readonly Session[]): (HTMLElement | SVGElement)[] {
  const self = text(at(graph, 'localNode'));
  const vertices = graphVertices(graph);
  const byId = new Map(vertices.map((v) => [v.id, v]));
  const specs = list(at(graph, 'edges')).flatMap((edge): EdgeSpec[] => {
    const from = byId.get(text(at(edge, 'from')));
    const to = byId.get(text(at(edge, 'to')));
    if (!from || !to) return [];
    const other = from.id === self ? to : to.id === self ? from : undefined;
    const session = other && sessions.find((s) => other.addresses.includes(s.remote));
    return [{ from, to, kind: text(at(edge, 'kind')), session }];
  });
  // Sessions the resources do not define (configured in the daemon's file): around this node too.
  const me = byId.get(self);
  const drawn = new Set(specs.map((e) => e.session));
  for (const s of sessions.filter((x) => !drawn.has(x))) {
    const v = addVertex(vertices, byId, {
      id: s.remote,
      label: s.name,
      role: 'external',
      addresses: [s.remote],
    });
    if (me) specs.push({ from: me, to: v, kind: s.type, session: s });
  }
  place(vertices);
  const picture = svg('svg', { viewBox: `0 0 ${SIZE} ${SIZE}`, class: 'topology', role: 'img' });
  const labelled = vertices.length <= MAX_LABELS;
  picture.append(
    ...specs.map((e) => edgeLine(e.from, e.to, e.kind, e.session)),
    ...vertices.flatMap((v) => vertexShapes(v, v.id === self, labelled)),
  );
  return [summary(graph, vertices), picture];
}

function graphVertices(graph: unknown): Vertex[] {
  const nodes = list(at(graph, 'nodes')).map((n): Vertex => ({
    id: text(at(n, 'name')),
    label: text(at(n, 'name')),
    role: text(at(n, 'clusterId')) ? 'reflector' : 'node',
    addresses: [text(at(n, 'ipv4')), text(at(n, 'ipv6'))].filter(Boolean),
    x: CENTRE,
    y: CENTRE,
  }));
  const external = list(at(graph, 'external')).map((p): Vertex => ({
    id: text(at(p, 'address')),
    label: list(at(p, 'bgpPeers')).map(text).join(', ') || text(at(p, 'address')),
    role: 'external',
    addresses: [text(at(p, 'address'))],
    x: CENTRE,
    y: CENTRE,
  }));
  return [...nodes, ...external];
}

function addVertex(vertices: Vertex[], byId: Map<string, Vertex>, v: Omit<Vertex, 'x' | 'y'>): Vertex {
  const existing = byId.get(v.id);
  if (existing) return existing;
  const added = { ...v, x: CENTRE, y: CENTRE };
  vertices.push(added);
  byId.set(added.id, added);
  return added;
}

/**
 * Each role on its ring, evenly spaced, a lone reflector at the centre. Each ring is turned by half a
 * step of the ring inside it, so a line from the outside does not run along one to the inside.
 */
function place(vertices: readonly Vertex[]): void {
  let turn = -Math.PI / 2;
  for (const role of Object.keys(RING) as Role[]) {
    const ring = vertices.filter((v) => v.role === role);
    const only = ring.length === 1 && role === 'reflector';
    const start = turn;
    if (ring.length > 0 && !only) turn += Math.PI / ring.length;
    ring.forEach((v, i) => {
      const angle = (2 * Math.PI * i) / ring.length + start;
      v.x = only ? CENTRE : CENTRE + RING[role] * Math.cos(angle);
      v.y = only ? CENTRE : CENTRE + RING[role] * Math.sin(angle);
    });
  }
}

function edgeLine(from: Vertex, to: Vertex, kind: string, session: Session | undefined): SVGElement {
  const tone = session === undefined ? 'desired' : toneOf(session.state);
  return svg('line', {
    x1: from.x,
    y1: from.y,
    x2: to.x,
    y2: to.y,
    class: `edge ${tone} kind-${kind}`,
    'data-from': from.id,
    'data-to': to.id,
    'data-peer': session?.name,
    'data-state': session?.state,
  });
}

function vertexShapes(v: Vertex, self: boolean, labelled: boolean): SVGElement[] {
  const shapes = [
    svg(
      'circle',
      {
        cx: v.x,
        cy: v.y,
        r: self ? 18 : 12,
        class: `vertex ${v.role}${self ? ' self' : ''}`,
        'data-vertex': v.id,
      },
      svg('title', {}, `${v.label} (${v.role}) ${v.addresses.join(' ')}`),
    ),
  ];
  if (labelled) shapes.push(svg('text', { x: v.x, y: v.y + 28, class: 'label' }, v.label));
  return shapes;
}

function summary(graph: unknown, vertices: readonly Vertex[]): HTMLElement {
  const count = (role: Role) => vertices.filter((v) => v.role === role).length;
  const truncated = num(at(graph, 'truncated'));
  return h(
    'p',
    { id: 'topology-summary' },
    `${count('node')} nodes, ${count('reflector')} route reflectors, ${count('external')} external peers; ` +
      `node-to-node mesh ${at(graph, 'meshEnabled') === true ? 'on' : 'off'}`,
    truncated > 0 ? ` (sessions of ${truncated} nodes not drawn)` : '',
  );
}

function toneOf(state: string): 'up' | 'down' | 'pending' {
  return state === 'Established' ? 'up' : state === 'Idle' ? 'down' : 'pending';
}

// --- Without a cluster view: this speaker and its sessions -----------------------------------------

function sessionStar(sessions: readonly Session[], role: string, localAs: string): SVGElement {
  const picture = svg('svg', { viewBox: `0 0 ${SIZE} ${SIZE}`, class: 'topology', role: 'img' });
  const centre: Vertex = { id: 'self', label: 'self', role: 'node', addresses: [], x: CENTRE, y: CENTRE };
  const peers = [...sessions].sort((a, b) => a.type.localeCompare(b.type));
  peers.forEach((s, i) => {
    const angle = (2 * Math.PI * i) / Math.max(1, peers.length);
    const v: Vertex = {
      id: s.remote,
      label: s.name,
      role: 'external',
      addresses: [s.remote],
      x: CENTRE + RING.node * Math.cos(angle),
      y: CENTRE + RING.node * Math.sin(angle),
    };
    picture.append(edgeLine(centre, v, s.type, s), ...vertexShapes(v, false, true));
  });
  picture.append(
    svg('circle', { cx: CENTRE, cy: CENTRE, r: 18, class: 'vertex self' }),
    svg('text', { x: CENTRE, y: CENTRE + 36, class: 'label' }, `this ${role} (AS ${localAs})`),
  );
  return picture;
}

function legend(): HTMLElement {
  const item = (swatch: string, label: string) =>
    h('li', {}, h('span', { class: `swatch ${swatch}` }), label);
  return h(
    'ul',
    { class: 'legend' },
    item('self', 'this daemon'),
    item('reflector', 'route reflector'),
    item('node', 'node'),
    item('external', 'external peer (ToR)'),
    item('edge-up', 'Established'),
    item('edge-pending', 'connecting'),
    item('edge-down', 'Idle (down)'),
    item('edge-desired', 'wanted by the resources, between other nodes'),
  );
}
