// The shared RBAC engine (src/proxy/rbac/engine.ts) on its own: ALLOW / DENY / LOG decisions,
// the effective policy (first match in name order), and/or/not nesting, ports and CIDRs, and the
// client certificate names principal_name sees (URI SANs, DNS SANs, RFC 2253 subject) from real
// mTLS connections.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import tls from 'node:tls';
import { readFileSync } from 'node:fs';
import { RbacConnection, RbacEngine, deniedDetails, statPrefixJoin, NO_POLICY, type RbacSubject } from '../../../src/proxy/rbac/engine.js';
import type { RbacPolicyConfig, RbacPrincipalConfig, RbacRulesConfig } from '../../../src/proxy/rbac/config.js';
import type { ValueMatcherConfig } from '../../../src/proxy/rbac/metadata.js';
import { ipBytes } from '../../../src/proxy/listener/cidr.js';
import { makePki } from '../../helpers/certs.js';

/** A subject with a fake connection (only the fields the predicates read). */
function subject(o: { method?: string; path?: string; headers?: string[]; remote?: string; localPort?: number; sni?: string; metadata?: Record<string, Record<string, unknown>> }): RbacSubject {
  const conn = {
    localPort: o.localPort ?? 8080, serverName: o.sni ?? '', tls: false,
    remoteIp: () => ipBytes(o.remote ?? '127.0.0.1'), localIp: () => ipBytes('127.0.0.1'), peerNames: () => null,
  } as unknown as RbacConnection;
  const path = o.path ?? '/';
  return {
    conn,
    request: { authority: 'h', path, method: o.method ?? 'GET', headers: o.headers ?? [] },
    pathOnly: () => path.split('?')[0]!,
    remoteIp: () => conn.remoteIp(),
    dynamicMetadata: () => o.metadata ?? null,
  };
}

const any = [{ kind: 'any' as const }];
const rules = (action: RbacRulesConfig['action'], policies: Record<string, RbacPolicyConfig>): RbacRulesConfig =>
  ({ action, policies: Object.entries(policies).sort(([a], [b]) => (a < b ? -1 : 1)) });

test('ALLOW, DENY and LOG decisions and the effective policy (first match by name)', () => {
  const both: Record<string, RbacPolicyConfig> = {
    b: { permissions: [{ kind: 'url_path', path: { kind: 'prefix', value: '/a', ignoreCase: false } }], principals: any },
    a: { permissions: [{ kind: 'url_path', path: { kind: 'exact', value: '/a/1', ignoreCase: false } }], principals: any },
  };
  const allow = new RbacEngine(rules('ALLOW', both));
  const deny = new RbacEngine(rules('DENY', both));
  const log = new RbacEngine(rules('LOG', both));
  const hit = subject({ path: '/a/1?x' });
  const miss = subject({ path: '/z' });
  assert.equal(allow.match(hit), 0, 'policy "a" sorts first');
  assert.equal(allow.deniedDetails(allow.match(hit)), 'rbac_access_denied_matched_policy[a]');
  assert.equal(allow.allows(allow.match(hit)), true);
  assert.equal(allow.allows(allow.match(miss)), false);
  assert.equal(allow.deniedDetails(NO_POLICY), 'rbac_access_denied_matched_policy[none]');
  assert.equal(deny.allows(deny.match(hit)), false);
  assert.equal(deny.allows(deny.match(subject({ path: '/a/2' }))), false, 'policy "b" matches the prefix');
  assert.equal(deny.allows(deny.match(miss)), true);
  assert.equal(log.allows(log.match(hit)), true);
  assert.equal(log.match(miss), NO_POLICY);
  assert.equal(new RbacEngine(rules('ALLOW', {})).allows(NO_POLICY), false, 'empty ALLOW rules deny');
});

test('and / or / not nesting, ports, port ranges, header and source CIDR', () => {
  const e = new RbacEngine(rules('ALLOW', {
    p: {
      permissions: [{
        kind: 'and_rules', rules: [
          { kind: 'or_rules', rules: [{ kind: 'destination_port', port: 80 }, { kind: 'destination_port_range', start: 9000, end: 9010 }] },
          { kind: 'not_rule', rule: { kind: 'header', header: { name: ':method', spec: { kind: 'exact', value: 'DELETE', ignoreCase: false }, invertMatch: false } } },
        ],
      }],
      principals: [{ kind: 'not_id', id: { kind: 'source_ip', cidr: { addressPrefix: '10.0.0.0', prefixLen: 8 } } }],
    },
  }));
  const ok = (o: Parameters<typeof subject>[0]): boolean => e.allows(e.match(subject(o)));
  assert.equal(ok({ localPort: 80 }), true);
  assert.equal(ok({ localPort: 9009 }), true);
  assert.equal(ok({ localPort: 9010 }), false, 'the range end is exclusive');
  assert.equal(ok({ localPort: 80, method: 'DELETE' }), false);
  assert.equal(ok({ localPort: 80, remote: '10.2.3.4' }), false);
  assert.equal(ok({ localPort: 80, remote: '::ffff:11.2.3.4' }), true);
});

test('details and stat prefixes follow Envoy: whitespace sanitized, prefix joined without a double dot', () => {
  assert.equal(deniedDetails('a b\tc'), 'rbac_access_denied_matched_policy[a_b_c]');
  assert.equal(statPrefixJoin('tcp.', 'rbac.'), 'tcp.rbac.');
  assert.equal(statPrefixJoin('tcp', 'rbac.'), 'tcp.rbac.');
});

test('principal names of a real mTLS peer: URI and DNS SANs, RFC 2253 subject; none for plaintext', async (t) => {
  const pki = await makePki();
  t.after(() => pki.close());
  const server = await pki.issue('srv', { sans: ['DNS:localhost'] });
  const client = await pki.issue('cli', { cn: 'worker', sans: ['URI:spiffe://td/ns/a/sa/b', 'DNS:w.example', 'IP:127.0.0.1'] });
  const seen = new Promise<RbacConnection>((resolve) => {
    const srv = tls.createServer({
      cert: readFileSync(server.cert), key: readFileSync(server.key), ca: readFileSync(pki.cert), requestCert: true, rejectUnauthorized: true,
    }, (s) => { resolve(new RbacConnection(s, null)); s.end(); });
    t.after(() => new Promise<void>((r) => srv.close(() => r())));
    srv.listen(0, '127.0.0.1', () => {
      const c = tls.connect({
        host: '127.0.0.1', port: (srv.address() as net.AddressInfo).port, servername: 'localhost', ca: readFileSync(pki.cert),
        cert: readFileSync(client.cert), key: readFileSync(client.key),
      });
      c.on('error', () => { /* closed by the server */ });
      c.resume();
    });
  });
  const conn = await seen;
  assert.equal(conn.tls, true);
  assert.equal(conn.serverName, 'localhost');
  assert.deepEqual(conn.peerNames(), { uriSans: ['spiffe://td/ns/a/sa/b'], dnsSans: ['w.example'], subject: 'CN=worker' });
  const plain = new RbacConnection(new net.Socket(), null);
  assert.equal(plain.tls, false);
  assert.equal(plain.peerNames(), null);
});

test('metadata principals: JWT claims in dynamic metadata (string, list, nested, bool, number, presence, invert)', () => {
  const jwt = 'envoy.filters.http.jwt_authn';
  const md = (value: ValueMatcherConfig, path: string[], invert = false): RbacPrincipalConfig =>
    ({ kind: 'metadata', matcher: { filter: jwt, path, value, invert } });
  const str = (v: string): ValueMatcherConfig => ({ kind: 'string', match: { kind: 'exact', value: v, ignoreCase: false } });
  const payload = { [jwt]: {
    'https://issuer.example/': { iss: 'https://issuer.example/', sub: 'alice', groups: ['dev', 'admin'], nested: { key: { x: 'y' } }, admin: true, level: 3, gone: null },
  } };
  const iss = 'https://issuer.example/';
  const check = (p: RbacPrincipalConfig, metadata: Record<string, Record<string, unknown>> | undefined): boolean =>
    new RbacEngine(rules('ALLOW', { p: { permissions: any, principals: [p] } })).match(subject({ metadata })) === 0;
  assert.equal(check(md(str('alice'), [iss, 'sub']), payload), true);
  assert.equal(check(md(str('bob'), [iss, 'sub']), payload), false);
  assert.equal(check(md(str('alice'), [iss, 'sub']), undefined), false, 'no metadata at all');
  assert.equal(check(md(str('alice'), ['other-issuer', 'sub']), payload), false);
  assert.equal(check(md({ kind: 'list', oneOf: str('admin') }, [iss, 'groups']), payload), true);
  assert.equal(check(md({ kind: 'list', oneOf: str('ops') }, [iss, 'groups']), payload), false);
  assert.equal(check(md({ kind: 'list', oneOf: str('alice') }, [iss, 'sub']), payload), false, 'list_match needs a list');
  assert.equal(check(md(str('y'), [iss, 'nested', 'key', 'x']), payload), true, 'nested claims walk objects');
  assert.equal(check(md(str('y'), [iss, 'groups', '0']), payload), false, 'lists are not walked by key');
  assert.equal(check(md({ kind: 'bool', value: true }, [iss, 'admin']), payload), true);
  assert.equal(check(md({ kind: 'double', exact: 3, start: 0, end: 0 }, [iss, 'level']), payload), true);
  assert.equal(check(md({ kind: 'double', exact: null, start: 4, end: 9 }, [iss, 'level']), payload), false);
  assert.equal(check(md({ kind: 'present', value: true }, [iss, 'sub']), payload), true);
  assert.equal(check(md({ kind: 'present', value: true }, [iss, 'missing']), payload), false);
  assert.equal(check(md({ kind: 'null' }, [iss, 'gone']), payload), true);
  assert.equal(check(md({ kind: 'present', value: false }, [iss, 'sub']), payload), false, 'present_match false matches nothing (Envoy)');
  assert.equal(check(md(str('bob'), [iss, 'sub'], true), payload), true, 'invert');
  assert.equal(check(md({ kind: 'or', matchers: [str('bob'), str('alice')] }, [iss, 'sub']), payload), true);
  // As a permission too.
  const perm = new RbacEngine(rules('DENY', { p: { permissions: [{ kind: 'metadata', matcher: { filter: jwt, path: [iss, 'sub'], value: str('alice'), invert: false } }], principals: any } }));
  assert.equal(perm.allows(perm.match(subject({ metadata: payload }))), false);
  assert.equal(perm.allows(perm.match(subject({}))), true);
});

test('metadata paths only see the payload\'s own keys (no prototype properties)', () => {
  const jwt = 'envoy.filters.http.jwt_authn';
  const present = (path: string[], metadata: Record<string, Record<string, unknown>>): boolean =>
    new RbacEngine(rules('ALLOW', { p: { permissions: any, principals: [{ kind: 'metadata', matcher: { filter: jwt, path, value: { kind: 'present', value: true }, invert: false } }] } }))
      .match(subject({ metadata })) === 0;
  const md = { [jwt]: { iss: { sub: 'a' } } };
  assert.equal(present(['iss', 'sub'], md), true);
  assert.equal(present(['iss', 'constructor'], md), false);
  assert.equal(present(['iss', 'toString'], md), false);
  assert.equal(present(['iss', '__proto__'], md), false);
  assert.equal(present(['iss', '__proto__'], { [jwt]: { iss: JSON.parse('{"__proto__": "x"}') as Record<string, unknown> } }), true, 'an own __proto__ claim');
  assert.equal(present(['hasOwnProperty'], md), false);
});
