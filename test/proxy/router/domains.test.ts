// Virtual host selection by :authority (route_components.proto VirtualHost.domains search order).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileRouteTable, portStart, RouteConfigError } from '../../../src/proxy/router/route-table.js';
import { prefix, req, route, routeConfig, vhost } from './builders.js';

const vh = (name: string, ...domains: string[]) => vhost(name, domains, [route(prefix('/'), { name })]);

const table = compileRouteTable(routeConfig([
  vh('exact', 'www.example.com', 'api.example.com:8443', '[::1]', 'shop.example.net'),
  vh('suffix-long', '*.api.example.com'),
  vh('suffix', '*.example.com'),
  vh('suffix-dash', '*-bar.foo.com'),
  vh('suffix-port', '*.svc:9080'),
  vh('prefix', 'www.*'),
  vh('prefix-long', 'www.example.*'),
  vh('star', '*'),
]));

const cases: [authority: string, expected: string][] = [
  ['www.example.com', 'exact'],
  ['WWW.Example.COM', 'exact'],                 // domains are case-insensitive
  ['api.example.com:8443', 'exact'],            // domain written with its port
  ['shop.example.net:80', 'exact'],             // no match with the port → retried without it
  ['shop.example.net:1234', 'exact'],           // ... before falling to `*`
  ['www.example.com:80', 'prefix-long'],        // but the first pass (port as given) comes first
  ['api.example.com', 'suffix'],                // `api.example.com:8443` needs the port
  ['api.example.com:9999', 'suffix'],           // port stripped, then suffix wildcard
  ['v1.api.example.com', 'suffix-long'],        // longest suffix first
  ['a.b.api.example.com', 'suffix-long'],
  ['www.foo.example.com', 'suffix'],            // suffix wildcards before prefix wildcards
  ['baz-bar.foo.com', 'suffix-dash'],
  ['-bar.foo.com', 'star'],                     // a wildcard never matches the empty string
  ['reviews.svc:9080', 'suffix-port'],          // wildcard including a port
  ['reviews.svc', 'star'],
  ['www.other.org', 'prefix'],
  ['www.example.org', 'prefix-long'],           // longest prefix first
  ['www.example.org:8080', 'prefix-long'],      // prefix wildcard swallows the port
  ['www.', 'star'],
  ['[::1]:8080', 'exact'],                      // IPv6 literal, port stripped
  ['[::1]', 'exact'],
  ['unknown.net', 'star'],
  ['unknown.net:80', 'star'],
  ['', 'star'],
];

for (const [authority, expected] of cases) {
  test(`authority '${authority}' selects virtual host '${expected}'`, () => {
    assert.equal(table.match(req('/', [], authority))?.virtualHost.name, expected);
    assert.equal(table.findVirtualHost(authority)?.name, expected);
  });
}

test('without a `*` virtual host an unknown authority matches nothing (404 NR)', () => {
  const t = compileRouteTable(routeConfig([vh('a', 'a.com')]));
  assert.equal(t.match(req('/', [], 'b.com')), null);
  assert.equal(t.match(req('/', [], 'a.com:8080'))?.virtualHost.name, 'a');
});

test('a table with only `*` takes the fast path for every authority', () => {
  const t = compileRouteTable(routeConfig([vh('only', '*')]));
  for (const a of ['x', 'Y.com:1', '']) assert.equal(t.match(req('/', [], a))?.virtualHost.name, 'only');
});

test('returns null when no route of the selected virtual host matches', () => {
  const t = compileRouteTable(routeConfig([
    vhost('a', ['a.com'], [route(prefix('/api'))]),
    vhost('star', ['*'], [route(prefix('/'))]),
  ]));
  assert.equal(t.match(req('/other', [], 'a.com')), null); // no fallback to another virtual host
});

test('rejects duplicate domains across virtual hosts, case-insensitively, and a second `*`', () => {
  assert.throws(
    () => compileRouteTable(routeConfig([vh('a', 'x.com', '*'), vh('b', 'X.COM'), vh('c', '*')])),
    (err: unknown) => {
      assert.ok(err instanceof RouteConfigError);
      assert.equal(err.code, 'WEFT_ROUTE_CONFIG');
      assert.deepEqual(err.errors, [
        "virtualHosts[1].domains[0]: duplicate domain 'x.com' (already in virtual host 'a')",
        "virtualHosts[2].domains[0]: duplicate domain '*' (already in virtual host 'a')",
      ]);
      return true;
    },
  );
});

test('portStart finds a numeric port outside IPv6 brackets', () => {
  assert.equal(portStart('a.com:80'), 5);
  assert.equal(portStart('a.com'), -1);
  assert.equal(portStart('a.com:'), -1);
  assert.equal(portStart('a.com:http'), -1);
  assert.equal(portStart('[::1]'), -1);
  assert.equal(portStart('[::1]:443'), 5);
});

test('many wildcards of the same length (map-backed level) still match longest first', () => {
  const hosts: ReturnType<typeof vh>[] = [];
  for (let i = 0; i < 12; i++) hosts.push(vh(`s${i}`, `*.svc${i % 10}${String.fromCharCode(97 + i)}.io`));
  for (let i = 0; i < 6; i++) hosts.push(vh(`p${i}`, `api${i}.*`));
  hosts.push(vh('short', '*.io'));
  const t = compileRouteTable(routeConfig(hosts));
  for (let i = 0; i < 12; i++) {
    assert.equal(t.findVirtualHost(`x.svc${i % 10}${String.fromCharCode(97 + i)}.io`)?.name, `s${i}`);
  }
  assert.equal(t.findVirtualHost('x.other.io')?.name, 'short');
  assert.equal(t.findVirtualHost('api3.example.com')?.name, 'p3');
  assert.equal(t.findVirtualHost('api9.example.com'), null);
  // `*.svc0a.io` needs a non-empty wildcard part; the shorter `*.io` still matches
  assert.equal(t.findVirtualHost('.svc0a.io')?.name, 'short');
});
