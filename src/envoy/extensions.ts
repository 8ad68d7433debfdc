// The one explicit list of typed_config decoders the Envoy adapter knows, keyed by type URL.
// Adding an extension = writing its decoder and adding one line here (no import side effects).

import {
  fileAccessLogExtension, stderrAccessLogExtension, stdoutAccessLogExtension,
} from './access-log.js';
import { connectionLimitExtension } from './connection-limit.js';
import { corsFilterExtension, corsPolicyExtension } from './cors.js';
import { ExtensionRegistry, type AnyExtension } from './decode/typed.js';
import { extAuthzFilterExtension, extAuthzPerRouteExtension } from './ext-authz.js';
import { faultFilterExtension, faultPerRouteExtension } from './fault.js';
import { httpConnectionManagerExtension } from './hcm.js';
import { jwtAuthnFilterExtension, jwtAuthnPerRouteExtension } from './jwt-authn.js';
import { networkRbacExtension, rbacFilterExtension, rbacPerRouteExtension } from './rbac.js';
import { downstreamConnectionsMonitorExtension, fixedHeapMonitorExtension } from './overload.js';
import { routerFilterExtension } from './router-filter.js';
import {
  downstreamTlsContextExtension, httpInspectorExtension, tlsInspectorExtension, upstreamTlsContextExtension,
} from './tls.js';
import { tcpProxyExtension } from './tcp-proxy.js';
import { upstreamHttpProtocolOptionsExtension } from './upstream-http.js';

export const BUILTIN_EXTENSIONS: readonly AnyExtension[] = [
  // network filters
  httpConnectionManagerExtension,
  tcpProxyExtension,
  connectionLimitExtension,
  networkRbacExtension,
  // HTTP filters
  routerFilterExtension,
  faultFilterExtension,
  corsFilterExtension,
  rbacFilterExtension,
  jwtAuthnFilterExtension,
  extAuthzFilterExtension,
  // HTTP filters' typed_per_filter_config
  faultPerRouteExtension,
  corsPolicyExtension,
  rbacPerRouteExtension,
  jwtAuthnPerRouteExtension,
  extAuthzPerRouteExtension,
  // access loggers
  fileAccessLogExtension,
  stdoutAccessLogExtension,
  stderrAccessLogExtension,
  // cluster typed_extension_protocol_options
  upstreamHttpProtocolOptionsExtension,
  // listener filters
  tlsInspectorExtension,
  httpInspectorExtension,
  // transport sockets
  downstreamTlsContextExtension,
  upstreamTlsContextExtension,
  // overload manager resource monitors
  fixedHeapMonitorExtension,
  downstreamConnectionsMonitorExtension,
];

/** A registry holding the built-in extensions. */
export function builtinExtensions(): ExtensionRegistry {
  return new ExtensionRegistry(BUILTIN_EXTENSIONS);
}
