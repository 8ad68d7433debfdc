// The ADS channel's credentials (Envoy: the `transport_socket` of the cluster that `ads_config`'s
// envoy_grpc names, an UpstreamTlsContext): TLS with the client certificate and trust bundle from
// files, inline data or SDS secrets (through the proxy's SecretManager), the server verified under
// the context's `sni`; plaintext when the cluster has no transport socket. Built again for every
// connection, so a renewed certificate or a rotated bundle is used by the next stream.

import * as grpc from '@grpc/grpc-js';
import type { BootstrapConfig, UpstreamTlsConfig } from '../config/types.js';
import type { SecretManager } from '../secrets/types.js';

export interface AdsCredentialSources {
  /** Explicit credentials (the sidecar's agent); win over the cluster's transport socket. */
  readonly credentials?: () => grpc.ChannelCredentials;
  /** The name to verify the control plane's certificate against (grpc `ssl_target_name_override`). */
  readonly serverName?: string;
  readonly secrets?: SecretManager;
}

export interface AdsChannelCredentials {
  readonly credentials: grpc.ChannelCredentials;
  readonly options: grpc.ChannelOptions;
}

function nameOptions(name: string | undefined): grpc.ChannelOptions {
  return name === undefined || name === '' ? {} : { 'grpc.ssl_target_name_override': name, 'grpc.default_authority': name };
}

/** The ADS cluster's UpstreamTlsContext, or null (no transport socket, or a google_grpc target). */
export function adsTransportSocket(b: BootstrapConfig): UpstreamTlsConfig | null {
  const t = b.dynamicResources?.ads?.target;
  if (t === undefined || t.kind !== 'envoy_grpc') return null;
  return b.clusters.find((c) => c.name === t.clusterName)?.transportSocket ?? null;
}

/** Throws (with the reason) when TLS is configured but its material is not available yet. */
export function adsChannelCredentials(b: BootstrapConfig, src: AdsCredentialSources): AdsChannelCredentials {
  const tls = adsTransportSocket(b);
  if (src.credentials !== undefined) return { credentials: src.credentials(), options: nameOptions(src.serverName ?? tls?.sni) };
  if (tls === null) return { credentials: grpc.credentials.createInsecure(), options: {} };
  const ctx = tls.commonTlsContext;
  let cert: string | undefined;
  let key: string | undefined;
  const inline = ctx.tlsCertificates[0];
  if (inline !== undefined) {
    cert = inline.certificateChain.text;
    key = inline.privateKey.text;
  } else if (ctx.sdsCertificates.length > 0) {
    const ref = ctx.sdsCertificates[0]!;
    const v = src.secrets?.get(ref);
    if (v === undefined || v.kind !== 'tls_certificate') throw new Error(`the ADS client certificate (SDS secret ${ref.name}) has not arrived`);
    cert = v.certificateChain;
    key = v.privateKey;
  }
  let ca = ctx.validationContext?.trustedCa?.text;
  if (ctx.sdsValidation !== null) {
    const v = src.secrets?.get(ctx.sdsValidation);
    if (v === undefined || v.kind !== 'validation_context') throw new Error(`the ADS trust bundle (SDS secret ${ctx.sdsValidation.name}) has not arrived`);
    ca = v.trustedCa;
  }
  const credentials = grpc.credentials.createSsl(
    ca === undefined ? null : Buffer.from(ca),
    key === undefined ? null : Buffer.from(key),
    cert === undefined ? null : Buffer.from(cert),
  );
  return { credentials, options: nameOptions(src.serverName ?? tls.sni) };
}
