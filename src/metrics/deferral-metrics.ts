// The selection deferral after a graceful restart (RFC 4724 §4.1), read from the running router on
// scrape: whether best-path results are held back now, how many peers' End-of-RIB it still awaits,
// and how long the last deferral lasted. A router that did not restart reads 0 in all three.

import { scrapedGauge } from './collect.ts';
import type { Registry } from './exposition.ts';
import type { BrindleSource } from './source.ts';

export function registerDeferralMetrics(registry: Registry, source: BrindleSource): void {
  const status = () => source.bgp?.selectionDeferral;
  scrapedGauge(
    registry,
    {
      name: 'brindle_selection_deferral_active',
      help: 'Whether best-path selection is deferred after a graceful restart (1): no route, no End-of-RIB and no kernel change until every peer sent End-of-RIB or the Selection_Deferral_Timer fires (RFC 4724 §4.1).',
    },
    (emit) => emit({}, status()?.active ? 1 : 0),
  );
  scrapedGauge(
    registry,
    {
      name: 'brindle_selection_deferral_awaited_peers',
      help: 'Peers the running selection deferral still waits for: not Established yet, or End-of-RIB missing for a family.',
    },
    (emit) => {
      const now = status();
      emit({}, now?.active ? now.waitingFor.length : 0);
    },
  );
  scrapedGauge(
    registry,
    {
      name: 'brindle_selection_deferral_duration_seconds',
      help: 'How long the last selection deferral lasted, from start to the last End-of-RIB or the timer; 0 until one ended.',
    },
    (emit) => emit({}, status()?.durationSec ?? 0),
  );
}
