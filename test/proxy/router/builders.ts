// Builders for typed route configurations in the router tests (defaults as Envoy's).
import type {
  DirectResponseActionConfig, HeaderMatcherConfig, HeaderMutations, PathMatchConfig, QueryParameterMatcherConfig,
  RedirectActionConfig, RetryPolicyConfig, RouteActionConfig, RouteConfig, RouteConfiguration, VirtualHostConfig,
} from '../../../src/proxy/config/types.js';
import { compileRouteTable, type RouteRequest, type RouteTable } from '../../../src/proxy/router/route-table.js';

export const NO_MUTATIONS: HeaderMutations = {
  requestHeadersToAdd: [], requestHeadersToRemove: [], responseHeadersToAdd: [], responseHeadersToRemove: [],
};

export function action(p: Partial<RouteActionConfig> = {}): RouteActionConfig {
  return {
    kind: 'route', cluster: 'backend', clusterHeader: null, weightedClusters: null, prefixRewrite: null,
    regexRewrite: null, hostRewriteLiteral: null, autoHostRewrite: false, timeoutMs: 15_000, idleTimeoutMs: null,
    retryPolicy: null, requestMirrorPolicies: [], hashPolicy: [], upgradeConfigs: [],
    maxStreamDuration: null, maxGrpcTimeoutMs: null, grpcTimeoutOffsetMs: 0, ...p,
  };
}

export function redirectAction(p: Partial<RedirectActionConfig> = {}): RedirectActionConfig {
  return {
    kind: 'redirect', schemeRedirect: null, hostRedirect: null, portRedirect: null, pathRedirect: null,
    prefixRewrite: null, regexRewrite: null, responseCode: 301, stripQuery: false, ...p,
  };
}

export function directAction(status: number, body: string | null = null): DirectResponseActionConfig {
  return { kind: 'direct_response', status, body };
}

export interface RouteOptions extends Partial<HeaderMutations> {
  name?: string;
  caseSensitive?: boolean;
  headers?: HeaderMatcherConfig[];
  query?: QueryParameterMatcherConfig[];
  action?: RouteConfig['action'];
}

export function route(path: PathMatchConfig, o: RouteOptions = {}): RouteConfig {
  return {
    ...NO_MUTATIONS,
    requestHeadersToAdd: o.requestHeadersToAdd ?? [],
    requestHeadersToRemove: o.requestHeadersToRemove ?? [],
    responseHeadersToAdd: o.responseHeadersToAdd ?? [],
    responseHeadersToRemove: o.responseHeadersToRemove ?? [],
    name: o.name ?? 'r',
    match: { path, caseSensitive: o.caseSensitive ?? true, headers: o.headers ?? [], queryParameters: o.query ?? [] },
    action: o.action ?? action(),
  };
}

export const prefix = (value: string): PathMatchConfig => ({ kind: 'prefix', value });
export const exactPath = (value: string): PathMatchConfig => ({ kind: 'path', value });
export const regexPath = (regex: string): PathMatchConfig => ({ kind: 'safe_regex', regex });
export const separatedPrefix = (value: string): PathMatchConfig => ({ kind: 'path_separated_prefix', value });

export function vhost(
  name: string, domains: string[], routes: RouteConfig[],
  o: Partial<HeaderMutations> & { retryPolicy?: RetryPolicyConfig | null } = {},
): VirtualHostConfig {
  return { ...NO_MUTATIONS, ...o, name, domains, routes, retryPolicy: o.retryPolicy ?? null };
}

export function routeConfig(virtualHosts: VirtualHostConfig[], o: Partial<HeaderMutations> = {}): RouteConfiguration {
  return { ...NO_MUTATIONS, ...o, name: 'test', virtualHosts };
}

/** A table with one `*` virtual host holding these routes. */
export function tableOf(...routes: RouteConfig[]): RouteTable {
  return compileRouteTable(routeConfig([vhost('all', ['*'], routes)]));
}

export function req(path: string, headers: string[] = [], authority = 'example.com', method = 'GET'): RouteRequest {
  return { authority, path, method, headers };
}

export function retryPolicy(retryOn: string[], p: Partial<RetryPolicyConfig> = {}): RetryPolicyConfig {
  return {
    retryOn, numRetries: 1, perTryTimeoutMs: 0, retriableStatusCodes: [],
    backOff: { baseIntervalMs: 25, maxIntervalMs: 250 }, ...p,
  };
}
