// Starts the proxy in-process from a bootstrap written as YAML (ports usually 0), and tells the
// test the ports it got. Also raw-socket helpers for speaking HTTP/1.1 to it byte by byte.

import net from 'node:net';
import { parseBootstrapText } from '../../src/envoy/text.js';
import { ProxyServer } from '../../src/proxy/server.js';

export interface RunningProxy {
  server: ProxyServer;
  /** Port of the first listener (or by name). */
  port: number;
  portOf(listener: string): number;
  adminPort: number;
  close(): Promise<void>;
}

/** Decodes the YAML (throws with every error on failure) and starts a proxy. */
export async function startProxy(yamlText: string): Promise<RunningProxy> {
  const r = parseBootstrapText(yamlText, 'test.yaml', { baseDir: process.cwd() });
  if (!r.ok) throw new Error('bootstrap rejected:\n' + r.errors.join('\n'));
  const server = new ProxyServer(r.value);
  await server.start();
  const first = r.value.listeners[0]?.name;
  return {
    server,
    port: first === undefined ? 0 : server.listenerPort(first),
    portOf: (n) => server.listenerPort(n),
    adminPort: server.adminPort,
    close: () => server.close(),
  };
}

/**
 * A minimal bootstrap: one listener on 127.0.0.1:0 routing everything to one STATIC cluster
 * `up` at the given ports. `route` and `hcm` let a test add YAML at those levels (indented by the caller).
 */
export function simpleBootstrap(opts: {
  ports: number[];
  routeExtra?: string;     // extra keys under `route:` (6-space indent inside the route action)
  hcmExtra?: string;       // extra keys under the HCM typed_config
  clusterExtra?: string;   // extra keys under the cluster
  vhostRoutes?: string;    // replaces the routes list entirely
  admin?: boolean;
}): string {
  const endpoints = opts.ports.map((p) => `
              - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: ${p} } } }`).join('');
  const routes = opts.vhostRoutes ?? `
                      - match: { prefix: "/" }
                        route:
                          cluster: up${opts.routeExtra ? '\n' + opts.routeExtra : ''}`;
  return `
${opts.admin ? 'admin: { address: { socket_address: { address: 127.0.0.1, port_value: 0 } } }' : ''}
static_resources:
  listeners:
    - name: main
      address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
      filter_chains:
        - filters:
            - name: envoy.filters.network.http_connection_manager
              typed_config:
                "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
                stat_prefix: ingress${opts.hcmExtra ? '\n' + opts.hcmExtra : ''}
                route_config:
                  name: local
                  virtual_hosts:
                    - name: all
                      domains: ["*"]
                      routes:${routes}
                http_filters:
                  - name: envoy.filters.http.router
                    typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router }
  clusters:
    - name: up
      type: STATIC
      connect_timeout: 1s${opts.clusterExtra ? '\n' + opts.clusterExtra : ''}
      load_assignment:
        cluster_name: up
        endpoints:
          - lb_endpoints:${endpoints}
`;
}

/** Sends raw bytes on a new connection and collects everything until the server closes or `until` matches. */
export function rawExchange(port: number, data: string | Buffer, opts: { until?: (text: string) => boolean; halfClose?: boolean } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    let got = '';
    const finish = () => { s.destroy(); resolve(got); };
    s.on('connect', () => { s.write(data); if (opts.halfClose) s.end(); });
    s.on('data', (d) => { got += d.toString('latin1'); if (opts.until?.(got)) finish(); });
    s.on('end', finish);
    s.on('close', () => resolve(got));
    s.on('error', reject);
  });
}

/** Counts complete HTTP/1.1 responses with Content-Length in a byte string (for pipelining tests). */
export function splitResponses(text: string): Array<{ status: number; headers: Record<string, string>; body: string }> {
  const out: Array<{ status: number; headers: Record<string, string>; body: string }> = [];
  let rest = text;
  while (rest.length > 0) {
    const end = rest.indexOf('\r\n\r\n');
    if (end < 0) break;
    const lines = rest.slice(0, end).split('\r\n');
    const status = Number(lines[0]!.split(' ')[1]);
    const headers: Record<string, string> = {};
    for (const l of lines.slice(1)) { const i = l.indexOf(':'); headers[l.slice(0, i).toLowerCase()] = l.slice(i + 1).trim(); }
    const len = Number(headers['content-length'] ?? 0);
    out.push({ status, headers, body: rest.slice(end + 4, end + 4 + len) });
    rest = rest.slice(end + 4 + len);
  }
  return out;
}
