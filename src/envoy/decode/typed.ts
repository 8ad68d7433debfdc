// typed_config dispatch: a registry of extension decoders keyed by type URL (google.protobuf.Any's
// "@type"), filled by one explicit list (src/envoy/extensions.ts) with no import side effects.

import type {
  AccessLogConfig, DownstreamTlsConfig, HttpFilterConfig, ListenerFilterConfig, NetworkFilterConfig, PerFilterConfig,
  ResourceMonitorConfig, UpstreamTlsConfig,
} from '../../proxy/config/types.js';
import type { UpstreamHttpProtocolOptionsConfig } from '../upstream-http.js';
import type { Ctx } from './context.js';
import { isObject, readMessage, reader, type MessageSpec, type Msg, type Reader } from './readers.js';

/** What each extension category decodes to. */
export interface ExtensionOutputs {
  readonly network_filter: NetworkFilterConfig;
  readonly http_filter: HttpFilterConfig;
  /** typed_per_filter_config values (a filter's per-route type may differ from its filter type). */
  readonly http_filter_per_route: PerFilterConfig;
  readonly access_logger: AccessLogConfig;
  readonly upstream_http_protocol_options: UpstreamHttpProtocolOptionsConfig;
  readonly listener_filter: ListenerFilterConfig;
  readonly downstream_transport_socket: DownstreamTlsConfig;
  readonly upstream_transport_socket: UpstreamTlsConfig;
  /** Overload manager resource monitors (the monitor's `name` comes from the enclosing ResourceMonitor). */
  readonly resource_monitor: ResourceMonitorConfig;
}

export type ExtensionCategory = keyof ExtensionOutputs;

const CATEGORY_LABEL: Record<ExtensionCategory, string> = {
  network_filter: 'a supported network filter type',
  http_filter: 'a supported HTTP filter type',
  http_filter_per_route: 'a supported per-route HTTP filter config type',
  access_logger: 'a supported access logger type',
  upstream_http_protocol_options: 'an upstream protocol options type',
  listener_filter: 'a supported listener filter type',
  downstream_transport_socket: 'a supported downstream transport socket type',
  upstream_transport_socket: 'a supported upstream transport socket type',
  resource_monitor: 'a supported resource monitor type',
};

/** One typed_config decoder. */
export interface Extension<C extends ExtensionCategory = ExtensionCategory> {
  readonly category: C;
  /** Full type URL, e.g. `type.googleapis.com/envoy.extensions.filters.http.router.v3.Router`. */
  readonly typeUrl: string;
  /** The message's fields (the "@type" key is handled by the registry). */
  readonly spec: MessageSpec;
  /** `info.name` is the enclosing config's `name` (filter or logger name), '' when absent. */
  decode(m: Msg, info: { readonly name: string }): ExtensionOutputs[C] | undefined;
}

/** Any extension, whatever its category (each entry keeps its own precise type at definition). */
export type AnyExtension = { [C in ExtensionCategory]: Extension<C> }[ExtensionCategory];

export interface ExtensionLookup {
  /** The extension for a type URL; with `category`, only one of that category (a type may serve two). */
  find(typeUrl: string, category?: ExtensionCategory): AnyExtension | undefined;
  typeUrls(category: ExtensionCategory): readonly string[];
}

/** Proto type name of a type URL: whatever follows the last '/'. */
function typeName(typeUrl: string): string {
  return typeUrl.slice(typeUrl.lastIndexOf('/') + 1);
}

export class ExtensionRegistry implements ExtensionLookup {
  /** Type name → its extensions (one per category; HTTPFault is both a filter and a per-route config). */
  private readonly byName = new Map<string, AnyExtension[]>();

  constructor(extensions: readonly AnyExtension[]) {
    for (const ext of extensions) {
      const name = typeName(ext.typeUrl);
      const same = this.byName.get(name) ?? [];
      if (same.some((e) => e.category === ext.category)) throw new Error(`extension ${ext.typeUrl} registered twice`);
      same.push(ext);
      this.byName.set(name, same);
    }
  }

  find(typeUrl: string, category?: ExtensionCategory): AnyExtension | undefined {
    const all = this.byName.get(typeName(typeUrl));
    if (all === undefined) return undefined;
    return category === undefined ? all[0] : all.find((e) => e.category === category);
  }

  typeUrls(category: ExtensionCategory): readonly string[] {
    return [...this.byName.values()].flat().filter((e) => e.category === category).map((e) => e.typeUrl);
  }
}

/**
 * A Reader for a `typed_config` (google.protobuf.Any) of one category: dispatches on "@type" and
 * decodes the remaining keys with the extension's message spec.
 */
export function typedConfig<C extends ExtensionCategory>(category: C, info: { readonly name: string }): Reader<ExtensionOutputs[C]> {
  return reader(`an object with "@type"`, (ctx: Ctx, v: unknown) => {
    if (!isObject(v)) return ctx.expected(`an object with "@type"`, v);
    const url = v['@type'];
    const typeCtx = ctx.key('@type');
    const known = ctx.env.extensions.typeUrls(category);
    const what = `${CATEGORY_LABEL[category]} (${known.join(' | ')})`;
    if (typeof url !== 'string') return typeCtx.expected(what, url);
    const ext = ctx.env.extensions.find(url, category);
    // The type URL is named in full (show() would shorten a long one): it is the whole point.
    if (ext === undefined || ext.category !== category) return typeCtx.fail(`expected ${what}, got ${JSON.stringify(url)}`);
    const m = readMessage(ctx, v, ext.spec, { allowTypeKey: true });
    if (m === undefined) return undefined;
    return (ext as Extension<C>).decode(m, info);
  });
}
