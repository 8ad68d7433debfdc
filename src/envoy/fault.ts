// The fault injection HTTP filter, envoy.extensions.filters.http.fault.v3.HTTPFault (with
// envoy.extensions.filters.common.fault.v3.FaultDelay and FaultAbort). The same message is the
// filter's typed_config and its typed_per_filter_config, so it is registered in both categories.

import type { FaultConfig } from '../proxy/config/types.js';
import { fractionalPercentParts } from './core.js';
import {
  defineMessage, integer, list, message, positiveDuration, string, uint32, wrapped, type Msg, type Reader,
} from './decode/readers.js';
import type { Extension } from './decode/typed.js';
import { headerMatcher } from './route.js';

const FAULT_DELAY = defineMessage({
  name: 'envoy.extensions.filters.common.fault.v3.FaultDelay',
  fields: ['fixed_delay', 'header_delay', 'percentage'],
});
const HEADER_DELAY = defineMessage({ name: 'envoy.extensions.filters.common.fault.v3.FaultDelay.HeaderDelay', fields: [] });

const NO_PERCENT = { numerator: 0, denominator: 100 };

/** FaultDelay: fixed_delay or header_delay; an absent percentage is proto's default, 0%. */
const faultDelay: Reader<NonNullable<FaultConfig['delay']>> = message(FAULT_DELAY, (m) => {
  const which = m.oneof(['fixed_delay', 'header_delay'], { required: true });
  const percentage = m.get('percentage', fractionalPercentParts, NO_PERCENT);
  if (which === 'fixed_delay') {
    const ms = m.opt('fixed_delay', positiveDuration);
    return ms === undefined ? undefined : { kind: 'fixed', fixedDelayMs: ms, percentage };
  }
  if (which === 'header_delay') {
    return m.opt('header_delay', message(HEADER_DELAY, () => ({}))) === undefined ? undefined
      : { kind: 'header', fixedDelayMs: 0, percentage };
  }
  return undefined;
});

const FAULT_ABORT = defineMessage({
  name: 'envoy.extensions.filters.http.fault.v3.FaultAbort',
  fields: ['http_status', 'grpc_status', 'header_abort', 'percentage'],
});
const HEADER_ABORT = defineMessage({ name: 'envoy.extensions.filters.http.fault.v3.FaultAbort.HeaderAbort', fields: [] });

/** FaultAbort: http_status in [200, 600), grpc_status, or header_abort. */
const faultAbort: Reader<NonNullable<FaultConfig['abort']>> = message(FAULT_ABORT, (m) => {
  const which = m.oneof(['http_status', 'grpc_status', 'header_abort'], { required: true });
  const percentage = m.get('percentage', fractionalPercentParts, NO_PERCENT);
  switch (which) {
    case 'http_status': {
      const httpStatus = m.opt('http_status', integer(200, 599));
      return httpStatus === undefined ? undefined : { kind: 'http', httpStatus, grpcStatus: 0, percentage };
    }
    case 'grpc_status': {
      const grpcStatus = m.opt('grpc_status', uint32);
      return grpcStatus === undefined ? undefined : { kind: 'grpc', httpStatus: 0, grpcStatus, percentage };
    }
    case 'header_abort':
      return m.opt('header_abort', message(HEADER_ABORT, () => ({}))) === undefined ? undefined
        : { kind: 'header', httpStatus: 0, grpcStatus: 0, percentage };
    default:
      return undefined;
  }
});

export const HTTP_FAULT = defineMessage({
  name: 'envoy.extensions.filters.http.fault.v3.HTTPFault',
  fields: ['delay', 'abort', 'upstream_cluster', 'headers', 'downstream_nodes', 'max_active_faults'],
  unsupported: [
    'response_rate_limit', 'delay_percent_runtime', 'abort_percent_runtime', 'delay_duration_runtime',
    'abort_http_status_runtime', 'max_active_faults_runtime', 'response_rate_limit_percent_runtime',
    'abort_grpc_status_runtime', 'filter_metadata',
  ],
  // Per-downstream-cluster stats are not kept, so turning them off changes nothing.
  informational: ['disable_downstream_cluster_stats'],
});

const noDownstreamNodes: Reader<string[]> = list(string);

/** HTTPFault's fields. downstream_nodes is decoded only to refuse a non-empty list (Weft has no downstream node matching). */
export function faultFields(m: Msg): FaultConfig | undefined {
  const nodes = m.opt('downstream_nodes', noDownstreamNodes);
  if (nodes !== undefined && nodes.length > 0) {
    m.at('downstream_nodes').expected('an empty list (downstream_nodes is not supported)', nodes);
  }
  return {
    delay: m.opt('delay', faultDelay) ?? null,
    abort: m.opt('abort', faultAbort) ?? null,
    headers: m.get('headers', list(headerMatcher), []),
    upstreamCluster: m.get('upstream_cluster', string, ''),
    maxActiveFaults: m.opt('max_active_faults', wrapped(uint32)) ?? null,
  };
}

const FAULT_TYPE = 'type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault';

export const faultFilterExtension: Extension<'http_filter'> = {
  category: 'http_filter',
  typeUrl: FAULT_TYPE,
  spec: HTTP_FAULT,
  decode(m, info) {
    const config = faultFields(m);
    return config === undefined ? undefined : { kind: 'fault', name: info.name, config };
  },
};

export const faultPerRouteExtension: Extension<'http_filter_per_route'> = {
  category: 'http_filter_per_route',
  typeUrl: FAULT_TYPE,
  spec: HTTP_FAULT,
  decode(m) {
    const config = faultFields(m);
    return config === undefined ? undefined : { kind: 'fault', config };
  },
};
