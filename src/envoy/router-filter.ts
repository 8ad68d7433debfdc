// The router HTTP filter, envoy.extensions.filters.http.router.v3.Router: the terminal filter that
// forwards to the route's cluster. None of its options is implemented yet.

import { defineMessage } from './decode/readers.js';
import type { Extension } from './decode/typed.js';

const ROUTER = defineMessage({
  name: 'envoy.extensions.filters.http.router.v3.Router',
  fields: [],
  unsupported: [
    'dynamic_stats', 'start_child_span', 'upstream_log', 'upstream_log_options', 'suppress_envoy_headers',
    'strict_check_headers', 'respect_expected_rq_timeout', 'suppress_grpc_request_failure_code_stats',
    'upstream_http_filters', 'reject_connect_request_early_data',
  ],
});

export const routerFilterExtension: Extension<'http_filter'> = {
  category: 'http_filter',
  typeUrl: 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router',
  spec: ROUTER,
  decode: (_m, info) => ({ kind: 'router', name: info.name }),
};
