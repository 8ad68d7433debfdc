// Istio's CUSTOM action: an `extensionProviders` entry of the mesh config (MeshConfig
// ExtensionProvider envoyExtAuthzHttp / envoyExtAuthzGrpc, istio.io/latest/docs/reference/config/
// istio.mesh.v1alpha1/) → an envoy.filters.http.ext_authz filter for the inbound chain. The
// provider readers register with src/control/mesh-config.ts when this module loads (index.ts
// imports it), so `weft control --mesh-config` validates them; unknown or unimplemented fields are
// refused with their path. `service` ([<namespace>/]<hostname> of a mesh service or ServiceEntry)
// and `port` become the outbound cluster `outbound|<port>||<hostname>`, which the sidecar has when
// the service is in its scope.

import { registerExtensionProvider } from '../../mesh-config.js';
import type { ExtensionProvider } from '../../model.js';
import type { SecurityContext } from './index.js';

const EXT_AUTHZ_TYPE = 'type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz';

/** Istio's default provider timeout (ExtensionProvider docs: 600 s). */
const DEFAULT_TIMEOUT = '600s';

export interface RequestBodySpec { readonly maxRequestBytes: number; readonly allowPartialMessage: boolean; readonly packAsBytes: boolean }

/** envoyExtAuthzHttp / envoyExtAuthzGrpc after validation (absent list fields are empty). */
export interface ExtAuthzProviderSpec {
  readonly [key: string]: unknown;
  readonly service: string;
  readonly port: number;
  /** A protobuf Duration string ("0.5s"). */
  readonly timeout: string;
  readonly failOpen: boolean;
  /** HTTP status for errors (Istio spells it as a string: "503"). */
  readonly statusOnError: number;
  readonly includeRequestBodyInCheck: RequestBodySpec | null;
  // envoyExtAuthzHttp only
  readonly pathPrefix: string;
  readonly includeRequestHeadersInCheck: readonly string[];
  readonly includeAdditionalHeadersInCheck: Readonly<Record<string, string>>;
  readonly headersToUpstreamOnAllow: readonly string[];
  readonly headersToDownstreamOnDeny: readonly string[];
  readonly headersToDownstreamOnAllow: readonly string[];
}

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/;
const HOST = /^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/i;
const HEADER = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** A duration as Istio's YAML writes it ("0.5s", "200ms", "1m") → protobuf Duration JSON ("0.5s"). */
function durationText(v: unknown): string | undefined {
  if (typeof v !== 'string') return undefined;
  const m = DURATION.exec(v);
  if (m === null) return undefined;
  const n = Number(m[1]);
  const seconds = m[2] === 'ms' ? n / 1000 : m[2] === 'm' ? n * 60 : m[2] === 'h' ? n * 3600 : n;
  return seconds > 0 ? `${seconds}s` : undefined;
}

function readProvider(body: unknown, path: string, errors: string[], http: boolean): ExtAuthzProviderSpec | undefined {
  if (!isObject(body)) { errors.push(`${path}: expected an object, got ${JSON.stringify(body)}`); return undefined; }
  const before = errors.length;
  const bad = (field: string, what: string, v: unknown): void => { errors.push(`${path}.${field}: expected ${what}, got ${JSON.stringify(v)}`); };
  const strings = (field: string, v: unknown, check?: RegExp): string[] => {
    if (!Array.isArray(v) || !v.every((x) => typeof x === 'string' && x !== '' && (check === undefined || check.test(x.replace(/^\*|\*$/g, '') || 'x')))) {
      bad(field, 'a list of header names (optionally with a leading or trailing *)', v);
      return [];
    }
    return v as string[];
  };
  const spec: Record<string, unknown> = {
    timeout: DEFAULT_TIMEOUT, failOpen: false, statusOnError: 403, includeRequestBodyInCheck: null, pathPrefix: '',
    includeRequestHeadersInCheck: [], includeAdditionalHeadersInCheck: {}, headersToUpstreamOnAllow: [],
    headersToDownstreamOnDeny: [], headersToDownstreamOnAllow: [],
  };
  const httpOnly = ['pathPrefix', 'includeRequestHeadersInCheck', 'includeAdditionalHeadersInCheck', 'headersToUpstreamOnAllow', 'headersToDownstreamOnDeny', 'headersToDownstreamOnAllow'];
  for (const [k, v] of Object.entries(body)) {
    if (!http && httpOnly.includes(k)) { errors.push(`${path}.${k}: not a field of envoyExtAuthzGrpc`); continue; }
    switch (k) {
      case 'service': {
        const host = typeof v === 'string' ? v.slice(v.indexOf('/') + 1) : '';
        if (host !== '' && HOST.test(host)) spec.service = host;
        else bad(k, 'a service hostname ([<namespace>/]<hostname>)', v);
        break;
      }
      case 'port': {
        // proto3 JSON: an integer may be written as a string (Istio's own task does: port: "9000").
        const n = typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : v;
        if (typeof n === 'number' && Number.isInteger(n) && n >= 1 && n <= 65535) spec.port = n;
        else bad(k, 'a port number 1..65535', v);
        break;
      }
      case 'timeout': {
        const d = durationText(v);
        if (d !== undefined) spec.timeout = d; else bad(k, 'a positive duration like "0.5s"', v);
        break;
      }
      case 'failOpen':
        if (typeof v === 'boolean') spec.failOpen = v; else bad(k, 'true or false', v);
        break;
      case 'clearRouteCache':
        // Weft routes once, before the filters: a re-route after the check is refused (not supported yet).
        if (v !== false) errors.push(`${path}.${k}: not supported yet (only false), got ${JSON.stringify(v)}`);
        break;
      case 'statusOnError': {
        const n = typeof v === 'string' && /^\d{3}$/.test(v) ? Number(v) : typeof v === 'number' ? v : NaN;
        if (Number.isInteger(n) && n >= 100 && n <= 599) spec.statusOnError = n; else bad(k, 'an HTTP status code like "503"', v);
        break;
      }
      case 'includeRequestBodyInCheck': {
        if (!isObject(v)) { bad(k, 'an object', v); break; }
        let maxRequestBytes = 0, allowPartialMessage = false, packAsBytes = false;
        for (const [bk, bv] of Object.entries(v)) {
          const num = typeof bv === 'string' && /^\d+$/.test(bv) ? Number(bv) : bv;
          if (bk === 'maxRequestBytes' && typeof num === 'number' && Number.isInteger(num) && num > 0 && num <= 4294967295) maxRequestBytes = num;
          else if (bk === 'allowPartialMessage' && typeof bv === 'boolean') allowPartialMessage = bv;
          else if (bk === 'packAsBytes' && typeof bv === 'boolean' && (!http || !bv)) packAsBytes = bv;
          else if (['maxRequestBytes', 'allowPartialMessage', 'packAsBytes'].includes(bk)) {
            bad(`${k}.${bk}`, bk === 'maxRequestBytes' ? 'a positive integer' : bk === 'packAsBytes' && http ? 'false (packAsBytes only applies to envoyExtAuthzGrpc)' : 'true or false', bv);
          } else errors.push(`${path}.${k}.${bk}: unknown field`);
        }
        // Istio leaves maxRequestBytes to Envoy's buffer limit when unset; Weft needs a bound: 1 MiB (Envoy's default buffer limit).
        spec.includeRequestBodyInCheck = { maxRequestBytes: maxRequestBytes || 1024 * 1024, allowPartialMessage, packAsBytes };
        break;
      }
      case 'pathPrefix':
        if (typeof v === 'string' && (v === '' || v.startsWith('/'))) spec.pathPrefix = v; else bad(k, 'a path starting with /', v);
        break;
      case 'includeRequestHeadersInCheck':
      case 'headersToUpstreamOnAllow':
      case 'headersToDownstreamOnDeny':
      case 'headersToDownstreamOnAllow':
        spec[k] = strings(k, v, HEADER);
        break;
      case 'includeAdditionalHeadersInCheck':
        if (isObject(v) && Object.entries(v).every(([hk, hv]) => HEADER.test(hk) && typeof hv === 'string')) spec[k] = v;
        else bad(k, 'a map of header names to values', v);
        break;
      case 'includeHeadersInCheck':
        errors.push(`${path}.${k}: deprecated in Istio and not supported: use includeRequestHeadersInCheck`);
        break;
      default:
        errors.push(`${path}.${k}: not supported yet`);
    }
  }
  if (spec.service === undefined && body.service === undefined) errors.push(`${path}.service: required`);
  if (spec.port === undefined && body.port === undefined) errors.push(`${path}.port: required`);
  return errors.length > before ? undefined : spec as ExtAuthzProviderSpec;
}

registerExtensionProvider('envoyExtAuthzHttp', (body, path, errors) => readProvider(body, path, errors, true));
registerExtensionProvider('envoyExtAuthzGrpc', (body, path, errors) => readProvider(body, path, errors, false));

/** Istio's header patterns: `abc` exact, `abc*` prefix, `*abc` suffix, `*` any; case-insensitive. */
function headerMatchers(list: readonly string[]): object[] {
  return list.map((h) => {
    if (h === '*') return { safe_regex: { regex: '.*' } };
    if (h.endsWith('*')) return { prefix: h.slice(0, -1).toLowerCase(), ignore_case: true };
    if (h.startsWith('*')) return { suffix: h.slice(1).toLowerCase(), ignore_case: true };
    return { exact: h.toLowerCase(), ignore_case: true };
  });
}

const patterns = (list: readonly string[]): object | undefined => (list.length === 0 ? undefined : { patterns: headerMatchers(list) });

/**
 * The ext_authz HTTP filter for `provider` on this workload's inbound chain, or undefined when the
 * provider is not an ext_authz one (the caller reports it). The filter must apply only where a
 * CUSTOM policy's rules match: the caller adds `filter_enabled_metadata` (Istio: the RBAC shadow
 * rules' `istio_ext_authz_shadow_effective_policy_id`, prefix `istio-ext-authz`).
 */
export function extAuthzHttpFilter(provider: ExtensionProvider, _ctx: SecurityContext): object | undefined {
  if (provider.kind !== 'envoyExtAuthzHttp' && provider.kind !== 'envoyExtAuthzGrpc') return undefined;
  const p = provider.spec as ExtAuthzProviderSpec;
  const cluster = `outbound|${p.port}||${p.service}`;
  const config: Record<string, unknown> = {
    '@type': EXT_AUTHZ_TYPE,
    transport_api_version: 'V3',
    failure_mode_allow: p.failOpen,
    status_on_error: { code: p.statusOnError },
  };
  const body = p.includeRequestBodyInCheck;
  if (body !== null) {
    config.with_request_body = { max_request_bytes: body.maxRequestBytes, allow_partial_message: body.allowPartialMessage, pack_as_bytes: body.packAsBytes };
  }
  if (provider.kind === 'envoyExtAuthzGrpc') {
    config.grpc_service = { envoy_grpc: { cluster_name: cluster, authority: p.service }, timeout: p.timeout };
  } else {
    const authorizationRequest: Record<string, unknown> = {};
    const add = Object.entries(p.includeAdditionalHeadersInCheck);
    if (add.length > 0) authorizationRequest.headers_to_add = add.map(([key, value]) => ({ key, value }));
    const authorizationResponse: Record<string, unknown> = {};
    const up = patterns(p.headersToUpstreamOnAllow);
    if (up !== undefined) authorizationResponse.allowed_upstream_headers = up;
    const deny = patterns(p.headersToDownstreamOnDeny);
    if (deny !== undefined) authorizationResponse.allowed_client_headers = deny;
    const allow = patterns(p.headersToDownstreamOnAllow);
    if (allow !== undefined) authorizationResponse.allowed_client_headers_on_success = allow;
    config.http_service = {
      server_uri: { uri: `http://${p.service}:${p.port}`, cluster, timeout: p.timeout },
      ...(p.pathPrefix !== '' ? { path_prefix: p.pathPrefix } : {}),
      ...(Object.keys(authorizationRequest).length > 0 ? { authorization_request: authorizationRequest } : {}),
      ...(Object.keys(authorizationResponse).length > 0 ? { authorization_response: authorizationResponse } : {}),
    };
    const allowed = patterns(p.includeRequestHeadersInCheck);
    if (allowed !== undefined) config.allowed_headers = allowed;
  }
  return { name: 'envoy.filters.http.ext_authz', typed_config: config };
}

/**
 * Istio's gate for a CUSTOM policy's ext_authz filter: enabled only on requests the RBAC filter's
 * shadow rules (shadow_rules_stat_prefix `istio_ext_authz_`) matched, i.e. whose dynamic metadata
 * `envoy.filters.http.rbac` / `istio_ext_authz_shadow_effective_policy_id` starts with
 * `istio-ext-authz`. Set it as the filter's `filter_enabled_metadata`.
 */
export const ISTIO_EXT_AUTHZ_FILTER_ENABLED_METADATA: object = Object.freeze({
  filter: 'envoy.filters.http.rbac',
  path: [{ key: 'istio_ext_authz_shadow_effective_policy_id' }],
  value: { string_match: { prefix: 'istio-ext-authz' } },
});
