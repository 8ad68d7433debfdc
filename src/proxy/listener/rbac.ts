// The RBAC network filter (envoy.filters.network.rbac, envoy.extensions.filters.network.rbac.v3.RBAC,
// Envoy's configuration/listeners/network_filters/rbac_filter) as the listener runs it: once a
// connection's filter chain is chosen and its transport is ready (after TLS termination, so the
// client certificate and SNI are known), before the terminal filter (HTTP connection manager or
// TCP proxy) sees it, the chain's rbac filters evaluate it once (ONE_TIME_ON_FIRST_BYTE's
// decision; Weft takes it at transport ready, so a denied TCP proxy connection never opens an
// upstream connection). Shadow rules are counted only. A denied connection is closed, after
// delay_deny when set (not read meanwhile). Stats: <stat_prefix>.rbac.{allowed,denied,logged,
// not_logged} and <stat_prefix>.rbac.<shadow_rules_stat_prefix>{shadow_allowed,shadow_denied}.

import type net from 'node:net';
import type { NetworkRbacConfig } from '../config/types.js';
import type { Counter, StatsStore } from '../../observe/stats.js';
import { RbacConnection, RbacEngine, statPrefixJoin, type RbacSubject } from '../rbac/engine.js';

/** The subject of a connection (no HTTP request). */
class ConnectionSubject implements RbacSubject {
  readonly request = null;
  constructor(readonly conn: RbacConnection) {}
  pathOnly(): string { return ''; }
  remoteIp(): Uint8Array | null { return this.conn.remoteIp(); }
  dynamicMetadata(): null { return null; }
}

export class NetworkRbac {
  private readonly engine: RbacEngine | null;
  private readonly shadow: RbacEngine | null;
  private readonly allowed: Counter;
  private readonly denied: Counter;
  private readonly logged: Counter;
  private readonly notLogged: Counter;
  private readonly shadowAllowed: Counter;
  private readonly shadowDenied: Counter;

  constructor(readonly config: NetworkRbacConfig, store: StatsStore) {
    this.engine = config.rules === null ? null : new RbacEngine(config.rules);
    this.shadow = config.shadowRules === null ? null : new RbacEngine(config.shadowRules);
    const prefix = statPrefixJoin(config.statPrefix, 'rbac.');
    const labels = { envoy_rbac_prefix: config.statPrefix };
    const c = (p: string, n: string): Counter => store.counter(`${prefix}${p}${n}`, `rbac_${p}${n}`.replace(/[^a-zA-Z0-9_]/g, '_'), labels);
    this.allowed = c('', 'allowed');
    this.denied = c('', 'denied');
    this.logged = c('', 'logged');
    this.notLogged = c('', 'not_logged');
    this.shadowAllowed = c(config.shadowRulesStatPrefix, 'shadow_allowed');
    this.shadowDenied = c(config.shadowRulesStatPrefix, 'shadow_denied');
  }

  /**
   * Evaluates a connection whose transport is ready. Returns whether it may go on; when not, the
   * socket is paused and destroyed (after delay_deny when set).
   */
  admit(socket: net.Socket, serverName: string | null): boolean {
    const subject = new ConnectionSubject(new RbacConnection(socket, serverName));
    const shadow = this.shadow;
    if (shadow !== null) (shadow.allows(shadow.match(subject)) ? this.shadowAllowed : this.shadowDenied).inc();
    const engine = this.engine;
    if (engine === null) return true;
    const matched = engine.match(subject);
    if (engine.action === 'LOG') (matched >= 0 ? this.logged : this.notLogged).inc();
    if (engine.allows(matched)) {
      this.allowed.inc();
      return true;
    }
    this.denied.inc();
    socket.pause();
    socket.on('error', () => { /* 'close' follows */ });
    const delay = this.config.delayDenyMs;
    if (delay <= 0) { socket.destroy(); return false; }
    const timer = setTimeout(() => socket.destroy(), delay);
    socket.once('close', () => clearTimeout(timer));
    return false;
  }
}
