// Resumable walks over a table: work over many items (every destination of a million-route Loc-RIB)
// done a bounded slice per event-loop turn, so keepalives and hold timers keep running while a peer's
// paths go (OpenBGPD's rib_dump_r resumes its table walks the same way). Walks run one after another,
// in the order they were asked for; each sees the table live, as a Map iterator does.

interface Walk<T> {
  readonly items: Iterator<T>;
  /** Visits one item; returns how many things it changed (summed for `done`). */
  readonly visit: (item: T) => number;
  readonly done: (changed: number) => void;
  changed: number;
}

export class Walker<T> {
  private readonly walks: Walk<T>[] = [];
  private scheduled = false;

  constructor(
    /** Items visited per event-loop turn, over all walks. */
    public visitsPerTurn: number,
  ) {}

  /** No walk is running or waiting. */
  get idle(): boolean {
    return this.walks.length === 0;
  }

  /** Queues a walk; `done` runs (with the sum of what `visit` returned) once every item was visited. */
  add(items: Iterable<T>, visit: (item: T) => number, done: (changed: number) => void = () => {}): void {
    this.walks.push({ items: items[Symbol.iterator](), visit, done, changed: 0 });
    this.schedule();
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.run());
  }

  /** Visits up to visitsPerTurn items, finishing walks in order, then yields to the event loop. */
  private run(): void {
    this.scheduled = false;
    let budget = this.visitsPerTurn;
    while (budget > 0 && this.walks.length > 0) {
      const walk = this.walks[0];
      const next = walk.items.next();
      if (next.done) {
        this.walks.shift();
        walk.done(walk.changed);
        continue;
      }
      walk.changed += walk.visit(next.value);
      budget--;
    }
    if (this.walks.length > 0) this.schedule();
  }
}
