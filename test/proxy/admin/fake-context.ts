// A fake AdminContext for the admin handler and server tests: fixed stats, config dump and clusters,
// recording the state-changing calls it receives.
import { StatsStore } from '../../../src/observe/stats.js';
import { setLevel } from '../../../src/observe/logger.js';
import type { AdminCluster, AdminContext } from '../../../src/proxy/admin/handlers.js';

export interface FakeContext extends AdminContext {
  calls: string[];
  ready: boolean;
}

export function fakeContext(): FakeContext {
  const stats = new StatsStore();
  stats.counter('cluster.web.upstream_rq_total', 'cluster_upstream_rq_total', { envoy_cluster_name: 'web' }).add(7);
  stats.gauge('server.live', 'server_live').set(1);
  stats.counter('server.unused_total');
  stats.histogram('cluster.web.upstream_rq_time', 'cluster_upstream_rq_time', { envoy_cluster_name: 'web' }).record(12);
  const ctx: FakeContext = {
    calls: [],
    ready: true,
    stats,
    serverInfo: () => ({ version: 'weft/0.1.0', state: ctx.ready ? 'LIVE' : 'PRE_INITIALIZING', uptime_current_epoch: '5s' }),
    isReady: () => ctx.ready,
    configDump: () => ({
      configs: [
        { '@type': 'type.googleapis.com/envoy.admin.v3.BootstrapConfigDump', bootstrap: { node: { id: 'n1', cluster: 'c1' } } },
        {
          '@type': 'type.googleapis.com/envoy.admin.v3.ClustersConfigDump',
          version_info: 'v1',
          static_clusters: [
            { cluster: { name: 'web', type: 'STATIC', connect_timeout: '1s' }, last_updated: 't' },
            { cluster: { name: 'api', type: 'STRICT_DNS', connect_timeout: '2s' }, last_updated: 't' },
          ],
        },
      ],
    }),
    clusters: (): AdminCluster[] => [{
      name: 'web',
      hosts: [
        { key: '10.0.0.1:80', healthy: true, weight: 1, priority: 0, locality: { region: 'r', zone: 'z', subZone: '' },
          stats: { cx_active: 2, rq_total: 9 } },
        { key: '[::1]:81', healthy: false, weight: 3, priority: 1, locality: { region: '', zone: '', subZone: '' },
          stats: { cx_active: 0 } },
      ],
    }],
    listeners: () => [{ name: 'ingress', address: { address: '0.0.0.0', port: 10000 } }],
    drainListeners: (o) => { ctx.calls.push(`drain graceful=${o.graceful} inbound=${o.inboundOnly}`); },
    quit: () => { ctx.calls.push('quit'); },
    setLogLevel: (level) => { ctx.calls.push(`level ${level}`); return setLevel(level); },
  };
  return ctx;
}
