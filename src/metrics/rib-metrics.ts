// Loc-RIB and Adj-RIB-Out series: table sizes per family (from the census walk), best-path changes as
// the Loc-RIB decides them, and the update groups' state. Labelled by family at most.

import type { Registry } from './exposition.ts';
import { scrapedCounter, scrapedGauge } from './collect.ts';
import type { Emit } from './collect.ts';
import type { FamilyFigures, RibWatcher } from './rib-census.ts';
import type { AdjRibOutView, BrindleSource } from './source.ts';

export function registerRibMetrics(registry: Registry, source: BrindleSource, rib: RibWatcher): void {
  const perFamily = (pick: keyof FamilyFigures) => async (emit: Emit) => {
    for (const [family, figures] of (await rib.census()).families) emit({ family }, figures[pick]);
  };
  const FAMILY = ['family'];
  scrapedGauge(
    registry,
    { name: 'brindle_rib_prefixes', help: 'Destinations (prefixes) in the Loc-RIB.', labelNames: FAMILY },
    perFamily('prefixes'),
  );
  scrapedGauge(
    registry,
    { name: 'brindle_rib_paths', help: 'Candidate paths in the Loc-RIB, every source.', labelNames: FAMILY },
    perFamily('paths'),
  );
  scrapedGauge(
    registry,
    {
      name: 'brindle_rib_originated_prefixes',
      help: 'Paths Brindle originates itself (this node’s address blocks).',
      labelNames: FAMILY,
    },
    perFamily('originated'),
  );
  scrapedCounter(
    registry,
    {
      name: 'brindle_rib_best_path_changes_total',
      help: 'Decisions that changed the best path (or the ECMP set) of a destination.',
      labelNames: FAMILY,
    },
    (emit) => {
      for (const [family, count] of rib.bestPathChanges) emit({ family }, count);
    },
  );
  scrapedGauge(
    registry,
    {
      name: 'brindle_rib_attribute_sets',
      help: 'Interned path attribute sets (distinct attribute combinations).',
    },
    (emit) => {
      const router = source.bgp;
      if (router) emit({}, router.locRib.attrSets.size);
    },
  );
  registerAdjRibOutMetrics(registry, source);
}

function registerAdjRibOutMetrics(registry: Registry, source: BrindleSource): void {
  const read = (pick: (out: AdjRibOutView) => number) => (emit: Emit) => {
    const out = source.bgp?.adjRibOut;
    if (out) emit({}, pick(out));
  };
  scrapedGauge(
    registry,
    { name: 'brindle_adj_rib_out_update_groups', help: 'Update groups (sessions that share their UPDATEs).' },
    read((out) => out.groupCount),
  );
  scrapedGauge(
    registry,
    {
      name: 'brindle_adj_rib_out_backlog_destinations',
      help: 'Destinations staged for export and not yet sent, over all update groups.',
    },
    read((out) => out.backlog),
  );
  scrapedGauge(
    registry,
    {
      name: 'brindle_adj_rib_out_dumps_in_progress',
      help: 'Update groups walking the Loc-RIB for an initial dump or a route refresh.',
    },
    read((out) => out.dumping),
  );
  scrapedCounter(
    registry,
    {
      name: 'brindle_adj_rib_out_updates_built_total',
      help: 'UPDATE messages built, once per update group however many members it has.',
    },
    read((out) => out.messagesBuilt),
  );
}
