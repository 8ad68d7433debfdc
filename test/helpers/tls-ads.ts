// A minimal ADS server over mutual TLS for tests of the xDS channel's credentials: it requires a
// client certificate chaining to the given roots, records each stream's peer certificate (its
// SPIFFE URI and serial) and the requests, and can end the open streams (to force a reconnect).
// It sends no resources: tests that need configuration use test/helpers/fake-ads.ts (plaintext).

import * as grpc from '@grpc/grpc-js';
import { ADS_SERVICE, type DiscoveryRequest, type DiscoveryResponse } from '../../src/xds/ads-service.js';
import { generateKeyPair, issueCertificate } from '../../src/security/x509.js';
import type { FakeRoot } from './fake-ca.js';

export interface TlsAdsStream {
  readonly peerUri: string | undefined;
  readonly peerSerial: string | undefined;
  readonly nodeId: string | undefined;
}

export interface TlsAds {
  readonly port: number;
  readonly streams: TlsAdsStream[];
  /** Ends every open stream (status OK; clients reconnect). */
  endStreams(): void;
  close(): Promise<void>;
}

export async function startTlsAds(serverRoot: FakeRoot, clientRootsPem: string): Promise<TlsAds> {
  const key = generateKeyPair();
  const cert = await issueCertificate({
    issuerCertPem: serverRoot.certPem, issuerKey: serverRoot.key.privateKey, publicKey: key.publicKey,
    dnsNames: ['weft-control'], ttlMs: 3600_000,
  });
  const streams: TlsAdsStream[] = [];
  const open = new Set<grpc.ServerDuplexStream<DiscoveryRequest, DiscoveryResponse>>();
  const server = new grpc.Server();
  const handler = (call: grpc.ServerDuplexStream<DiscoveryRequest, DiscoveryResponse>): void => {
    const peer = call.getAuthContext()?.sslPeerCertificate;
    const san = peer?.subjectaltname ?? '';
    const rec = { peerUri: san.split(', ').find((s) => s.startsWith('URI:'))?.slice(4), peerSerial: peer?.serialNumber, nodeId: undefined as string | undefined };
    streams.push(rec);
    open.add(call);
    call.sendMetadata(new grpc.Metadata());
    call.on('data', (r: DiscoveryRequest) => { rec.nodeId ??= r.node?.id; });
    const drop = (): void => { open.delete(call); };
    call.on('end', () => { drop(); call.end(); });
    call.on('error', drop);
    call.on('cancelled', drop);
  };
  server.addService(ADS_SERVICE, { StreamAggregatedResources: handler, DeltaAggregatedResources: handler as never });
  const creds = grpc.ServerCredentials.createSsl(Buffer.from(clientRootsPem), [{ cert_chain: Buffer.from(cert), private_key: Buffer.from(key.privateKeyPem) }], true);
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', creds, (e, p) => (e ? reject(e) : resolve(p))));
  return {
    port,
    streams,
    endStreams() {
      for (const c of [...open]) { open.delete(c); c.end(); }
    },
    close: async () => { server.forceShutdown(); },
  };
}
