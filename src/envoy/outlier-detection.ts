// Decoder for envoy.config.cluster.v3.OutlierDetection (outlier_detection.proto): the consecutive
// 5xx / gateway-failure / local-origin-failure detectors; success-rate and failure-percentage fields are rejected as unsupported.

import type { OutlierDetectionConfig } from '../proxy/config/types.js';
import {
  bool, defineMessage, integer, message, positiveDuration, uint32, wrapped, type Reader,
} from './decode/readers.js';

export const OUTLIER_DETECTION_DEFAULTS: OutlierDetectionConfig = Object.freeze({
  consecutive5xx: 5,
  enforcingConsecutive5xx: 100,
  consecutiveGatewayFailure: 5,
  enforcingConsecutiveGatewayFailure: 0,
  intervalMs: 10_000,
  baseEjectionTimeMs: 30_000,
  maxEjectionTimeMs: 300_000,
  maxEjectionPercent: 10,
  splitExternalLocalOriginErrors: false,
  consecutiveLocalOriginFailure: 5,
  enforcingConsecutiveLocalOriginFailure: 100,
});

const OUTLIER_DETECTION = defineMessage({
  name: 'envoy.config.cluster.v3.OutlierDetection',
  fields: [
    'consecutive_5xx', 'interval', 'base_ejection_time', 'max_ejection_percent', 'enforcing_consecutive_5xx',
    'consecutive_gateway_failure', 'enforcing_consecutive_gateway_failure', 'split_external_local_origin_errors',
    'consecutive_local_origin_failure', 'enforcing_consecutive_local_origin_failure', 'max_ejection_time',
    // The success-rate / failure-percentage switches: accepted only as 0 (off), which is what Istio sends.
    'enforcing_success_rate', 'enforcing_local_origin_success_rate', 'enforcing_failure_percentage',
    'enforcing_failure_percentage_local_origin',
  ],
  unsupported: [
    'success_rate_minimum_hosts', 'success_rate_request_volume', 'success_rate_stdev_factor',
    'failure_percentage_threshold', 'failure_percentage_minimum_hosts', 'failure_percentage_request_volume',
    'max_ejection_time_jitter', 'successful_active_health_check_uneject_host', 'monitors', 'always_eject_one_host',
  ],
});

const pct = wrapped(integer(0, 100));
/** An enforcing_* percent of a detector Weft does not implement: only 0 (disabled) is accepted. */
const off = wrapped(integer(0, 0, '0 (success-rate and failure-percentage detection are not supported)'));

/** envoy.config.cluster.v3.OutlierDetection → a frozen OutlierDetectionConfig. */
export const outlierDetection: Reader<OutlierDetectionConfig> = message(OUTLIER_DETECTION, (m) => {
  const d = OUTLIER_DETECTION_DEFAULTS;
  for (const f of ['enforcing_success_rate', 'enforcing_local_origin_success_rate', 'enforcing_failure_percentage',
    'enforcing_failure_percentage_local_origin']) m.opt(f, off);
  const baseEjectionTimeMs = m.get('base_ejection_time', positiveDuration, d.baseEjectionTimeMs);
  const maxSet = m.opt('max_ejection_time', positiveDuration);
  if (maxSet !== undefined && maxSet < baseEjectionTimeMs) {
    m.at('max_ejection_time').expected(`a duration not below base_ejection_time (${baseEjectionTimeMs / 1000}s)`, m.raw('max_ejection_time'));
  }
  return Object.freeze({
    consecutive5xx: m.get('consecutive_5xx', wrapped(uint32), d.consecutive5xx),
    enforcingConsecutive5xx: m.get('enforcing_consecutive_5xx', pct, d.enforcingConsecutive5xx),
    consecutiveGatewayFailure: m.get('consecutive_gateway_failure', wrapped(uint32), d.consecutiveGatewayFailure),
    enforcingConsecutiveGatewayFailure: m.get('enforcing_consecutive_gateway_failure', pct, d.enforcingConsecutiveGatewayFailure),
    intervalMs: m.get('interval', positiveDuration, d.intervalMs),
    baseEjectionTimeMs,
    // Unset: 300 s or base_ejection_time, whichever is larger (as Envoy).
    maxEjectionTimeMs: maxSet ?? Math.max(d.maxEjectionTimeMs, baseEjectionTimeMs),
    maxEjectionPercent: m.get('max_ejection_percent', pct, d.maxEjectionPercent),
    splitExternalLocalOriginErrors: m.get('split_external_local_origin_errors', bool, d.splitExternalLocalOriginErrors),
    consecutiveLocalOriginFailure: m.get('consecutive_local_origin_failure', wrapped(uint32), d.consecutiveLocalOriginFailure),
    enforcingConsecutiveLocalOriginFailure: m.get('enforcing_consecutive_local_origin_failure', pct, d.enforcingConsecutiveLocalOriginFailure),
  });
});
