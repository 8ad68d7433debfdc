// Envoy's SDS subscription stats (configuration/security/secret, "Statistics"): `sds.<secret name>.`
// update_attempt, update_success, update_rejected (a secret that failed validation: NACKed, the
// last good value kept), update_failure (the source could not be read or reached) and
// init_fetch_timeout (nothing arrived within initial_fetch_timeout). Counted by every source (ADS,
// file, gRPC SDS), per secret name as Envoy does.

import type { Counter, StatsStore } from '../../observe/stats.js';

export class SdsStats {
  readonly update_attempt: Counter;
  readonly update_success: Counter;
  readonly update_rejected: Counter;
  readonly update_failure: Counter;
  readonly init_fetch_timeout: Counter;
  constructor(store: StatsStore, name: string) {
    // Weft's Prometheus form: `envoy_sds_<stat>{envoy_sds_secret_name="<name>"}`.
    const labels = { envoy_sds_secret_name: name };
    const c = (n: string) => store.counter(`sds.${name}.${n}`, `sds_${n}`, labels);
    this.update_attempt = c('update_attempt');
    this.update_success = c('update_success');
    this.update_rejected = c('update_rejected');
    this.update_failure = c('update_failure');
    this.init_fetch_timeout = c('init_fetch_timeout');
  }
}

const byStore = new WeakMap<StatsStore, Map<string, SdsStats>>();

/** The SDS stats of a secret name, created once per stats store. */
export function sdsStats(store: StatsStore, name: string): SdsStats {
  let m = byStore.get(store);
  if (m === undefined) byStore.set(store, (m = new Map()));
  let s = m.get(name);
  if (s === undefined) m.set(name, (s = new SdsStats(store, name)));
  return s;
}
