// The Envoy v3 protos, loaded once (lazily) from the copies shipped in @grpc/grpc-js-xds's `deps/`
// folder (envoy-api, xds, googleapis, protoc-gen-validate), so nothing is vendored into Weft.
// Field names keep their proto spelling (snake_case), as Envoy's YAML and Weft's decoders do.

import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import protobuf from 'protobufjs';

/** Every proto file whose messages may travel over xDS to or from Weft. */
export const PROTO_FILES: readonly string[] = [
  'envoy/service/discovery/v3/ads.proto',
  'envoy/config/listener/v3/listener.proto',
  'envoy/config/route/v3/route.proto',
  'envoy/config/cluster/v3/cluster.proto',
  'envoy/config/endpoint/v3/endpoint.proto',
  'envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.proto',
  'envoy/extensions/filters/network/tcp_proxy/v3/tcp_proxy.proto',
  'envoy/extensions/filters/http/router/v3/router.proto',
  'envoy/extensions/filters/http/fault/v3/fault.proto',
  'envoy/extensions/filters/http/cors/v3/cors.proto',
  'envoy/extensions/filters/http/rbac/v3/rbac.proto',
  'envoy/extensions/filters/network/rbac/v3/rbac.proto',
  'envoy/extensions/filters/http/jwt_authn/v3/config.proto',
  'envoy/extensions/filters/http/ext_authz/v3/ext_authz.proto',
  // The ext_authz filter's gRPC service (CheckRequest / CheckResponse).
  'envoy/service/auth/v3/external_auth.proto',
  'envoy/extensions/filters/listener/tls_inspector/v3/tls_inspector.proto',
  'envoy/extensions/filters/listener/http_inspector/v3/http_inspector.proto',
  'envoy/extensions/transport_sockets/tls/v3/tls.proto',
  'envoy/extensions/transport_sockets/raw_buffer/v3/raw_buffer.proto',
  'envoy/extensions/upstreams/http/v3/http_protocol_options.proto',
  'envoy/extensions/access_loggers/file/v3/file.proto',
  'envoy/extensions/access_loggers/stream/v3/stream.proto',
];

const INCLUDE_DIRS = ['envoy-api', 'xds', 'googleapis', 'protoc-gen-validate'];

function depsDir(): string {
  const require = createRequire(import.meta.url);
  // The package's main file sits in build/src/; deps/ is at the package root.
  let dir = dirname(require.resolve('@grpc/grpc-js-xds'));
  while (!existsSync(join(dir, 'deps')) && dirname(dir) !== dir) dir = dirname(dir);
  return join(dir, 'deps');
}

function protobufjsDir(): string {
  const require = createRequire(import.meta.url);
  return dirname(require.resolve('protobufjs/package.json'));
}

let root: protobuf.Root | null = null;

/** The loaded, resolved Root (about 150 ms on first call). */
export function protoRoot(): protobuf.Root {
  if (root !== null) return root;
  const deps = depsDir();
  const pbjs = protobufjsDir();
  const r = new protobuf.Root();
  r.resolvePath = (_origin: string, target: string): string | null => {
    // descriptor.proto and friends ship with protobufjs; any/duration/struct/... are built in.
    if (target.startsWith('google/protobuf/')) {
      const p = join(pbjs, target);
      return existsSync(p) ? p : target;
    }
    for (const d of INCLUDE_DIRS) {
      const p = join(deps, d, target);
      if (existsSync(p)) return p;
    }
    return target;
  };
  r.loadSync([...PROTO_FILES], { keepCase: true });
  r.resolveAll();
  root = r;
  return r;
}

/** A message type by full name, e.g. `envoy.config.cluster.v3.Cluster`. */
export function messageType(fullName: string): protobuf.Type {
  return protoRoot().lookupType(fullName);
}

/** The message type a type URL names, or null when Weft does not know it. */
export function typeOfUrl(typeUrl: string): protobuf.Type | null {
  const name = typeUrl.slice(typeUrl.lastIndexOf('/') + 1);
  try {
    return protoRoot().lookupType(name);
  } catch {
    return null;
  }
}
