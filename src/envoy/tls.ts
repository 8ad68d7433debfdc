// Decoders for the TLS transport socket (envoy.extensions.transport_sockets.tls.v3: tls.proto and
// common.proto: DownstreamTlsContext, UpstreamTlsContext, CommonTlsContext, TlsCertificate,
// CertificateValidationContext, TlsParameters, SdsSecretConfig and CombinedCertificateValidationContext;
// secret.proto: Secret), envoy.config.core.v3.TransportSocket, and the listener filters
// tls_inspector and http_inspector. PEM material and TLS parameters are checked here (by building a
// throwaway secure context), so a bad file is a config error with its path. Certificates and trust
// bundles named by SDS (tls_certificate_sds_secret_configs, validation_context_sds_secret_config)
// are references here; src/proxy/secrets/ fetches them, decoding each Secret with `secretResource`.

import { resolve } from 'node:path';
import tls from 'node:tls';
import type {
  CertificateValidationConfig, CommonTlsContextConfig, DownstreamTlsConfig, ListenerFilterConfig, SanType,
  SdsSecretRef, SubjectAltNameMatcherConfig, TlsCertificateConfig, TlsDataSource, TlsParamsConfig, TlsProtocolVersion,
  UpstreamTlsConfig,
} from '../proxy/config/types.js';
import type { SecretValue } from '../proxy/secrets/types.js';
import { sdsConfigSource } from './config-source.js';
import { checkKeyPair, parseCertificates } from '../proxy/tls/pem.js';
import { opensslCipherList } from '../proxy/tls/params.js';
import { base64Text, fileContents, stringMatcher } from './core.js';
import { show, type Ctx } from './decode/context.js';
import {
  bool, defineMessage, enumeration, list, message, nonEmptyString, reader, string, wrapped, type Msg, type Reader,
} from './decode/readers.js';
import type { Extension } from './decode/typed.js';
import { typedConfig, type ExtensionOutputs } from './decode/typed.js';

const TLS_PACKAGE = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3';

// ───────────────────────────── data sources ─────────────────────────────

const DATA_SOURCE = defineMessage({
  name: 'envoy.config.core.v3.DataSource',
  fields: ['filename', 'inline_bytes', 'inline_string'],
  unsupported: ['environment_variable', 'watched_directory'],
});

/** A DataSource that remembers its (absolute) file name, so the runtime can watch it. */
const tlsDataSource: Reader<TlsDataSource> = message(DATA_SOURCE, (m) => {
  const which = m.oneof(['filename', 'inline_bytes', 'inline_string'], { required: true, others: ['environment_variable'] });
  switch (which) {
    case 'inline_string': {
      const text = m.opt('inline_string', string);
      return text === undefined ? undefined : { filename: null, text };
    }
    case 'inline_bytes': {
      const text = m.opt('inline_bytes', base64Text);
      return text === undefined ? undefined : { filename: null, text };
    }
    case 'filename': {
      const text = m.opt('filename', fileContents);
      const name = m.raw('filename');
      return text === undefined || typeof name !== 'string' ? undefined : { filename: resolve(m.ctx.env.baseDir, name), text };
    }
    default: return undefined;
  }
});

function describe(src: TlsDataSource): string {
  return src.filename !== null ? `file ${show(src.filename)}` : 'inline data';
}

/** A private key that serializes (config_dump, golden files) as `[redacted]`, as Envoy's dumps do. */
function redacted(src: TlsDataSource): TlsDataSource {
  const out = { ...src };
  Object.defineProperty(out, 'toJSON', { enumerable: false, value: () => ({ filename: src.filename, text: '[redacted]' }) });
  return out;
}

// ───────────────────────────── TLS certificates ─────────────────────────────

const TLS_CERTIFICATE = defineMessage({
  name: 'envoy.extensions.transport_sockets.tls.v3.TlsCertificate',
  fields: ['certificate_chain', 'private_key'],
  unsupported: ['pkcs12', 'watched_directory', 'private_key_provider', 'password', 'ocsp_staple', 'signed_certificate_timestamp'],
});

const tlsCertificate: Reader<TlsCertificateConfig> = message(TLS_CERTIFICATE, (m) => {
  const certificateChain = m.req('certificate_chain', tlsDataSource);
  const privateKey = m.req('private_key', tlsDataSource);
  if (certificateChain === undefined || privateKey === undefined) return undefined;
  const bad = checkKeyPair(certificateChain.text, privateKey.text);
  if (bad !== null) {
    return m.at(bad.field).fail(`expected ${bad.why}, got ${describe(bad.field === 'private_key' ? privateKey : certificateChain)}`);
  }
  return { certificateChain, privateKey: redacted(privateKey) };
});

// ───────────────────────────── validation ─────────────────────────────

const SUBJECT_ALT_NAME_MATCHER = defineMessage({
  name: 'envoy.extensions.transport_sockets.tls.v3.SubjectAltNameMatcher',
  fields: ['san_type', 'matcher'],
  unsupported: ['oid'],
});

const sanTypeEnum = enumeration({ SAN_TYPE_UNSPECIFIED: 0, EMAIL: 1, DNS: 2, URI: 3, IP_ADDRESS: 4 });

const subjectAltNameMatcher: Reader<SubjectAltNameMatcherConfig> = message(SUBJECT_ALT_NAME_MATCHER, (m) => {
  let sanType = m.req('san_type', sanTypeEnum);
  if (sanType === 'SAN_TYPE_UNSPECIFIED') sanType = m.at('san_type').expected('one of EMAIL, DNS, URI, IP_ADDRESS', 'SAN_TYPE_UNSPECIFIED');
  const matcher = m.req('matcher', stringMatcher);
  if (sanType === undefined || matcher === undefined) return undefined;
  return { sanType: sanType as SanType, matcher };
});

const CERTIFICATE_VALIDATION_CONTEXT = defineMessage({
  name: 'envoy.extensions.transport_sockets.tls.v3.CertificateValidationContext',
  fields: ['trusted_ca', 'match_typed_subject_alt_names', 'crl'],
  unsupported: [
    'ca_certificate_provider_instance', 'watched_directory', 'verify_certificate_spki', 'verify_certificate_hash',
    'match_subject_alt_names', 'require_signed_certificate_timestamp', 'allow_expired_certificate',
    'trust_chain_verification', 'custom_validator_config', 'only_verify_leaf_cert_crl', 'max_verify_depth',
    'system_root_certs',
  ],
});

/**
 * A CertificateValidationContext. `trustFromSds`: it is a combined context's
 * default_validation_context, whose trusted CA comes from an SDS secret (so SAN matchers without
 * trusted_ca are fine there).
 */
const validationContextOf = (trustFromSds: boolean): Reader<CertificateValidationConfig> => message(CERTIFICATE_VALIDATION_CONTEXT, (m) => {
  const trustedCa = m.opt('trusted_ca', tlsDataSource) ?? null;
  if (trustedCa !== null) {
    const certs = parseCertificates(trustedCa.text);
    if (typeof certs === 'string') m.at('trusted_ca').fail(`expected PEM CA certificates (${certs}), got ${describe(trustedCa)}`);
  }
  const crl = m.opt('crl', tlsDataSource) ?? null;
  if (crl !== null) {
    if (!m.has('trusted_ca')) m.at('crl').fail('expected only together with trusted_ca, got a crl without it');
    else {
      try { tls.createSecureContext({ crl: crl.text }); } catch (err) {
        m.at('crl').fail(`expected a PEM certificate revocation list (${(err as Error).message}), got ${describe(crl)}`);
      }
    }
  }
  const sans = m.get('match_typed_subject_alt_names', list(subjectAltNameMatcher), []);
  if (sans.length > 0 && !m.has('trusted_ca') && !trustFromSds) {
    // Envoy warns that SAN checks without a trust chain are spoofable; Weft refuses the combination.
    m.at('match_typed_subject_alt_names').fail('expected only together with trusted_ca (a SAN check without a trusted chain proves nothing)');
  }
  return { trustedCa, matchTypedSubjectAltNames: sans, crl };
});

const validationContext = validationContextOf(false);

// ───────────────────────────── SDS ─────────────────────────────

const SDS_SECRET_CONFIG = defineMessage({
  name: 'envoy.extensions.transport_sockets.tls.v3.SdsSecretConfig',
  fields: ['name', 'sds_config'],
});

/** An SdsSecretConfig: a secret by name from its sds_config source. */
const sdsSecretConfig: Reader<SdsSecretRef> = message(SDS_SECRET_CONFIG, (m) => {
  const name = m.req('name', nonEmptyString);
  if (!m.has('sds_config')) {
    // A secret of the bootstrap's static_resources.secrets (checked there).
    return name === undefined ? undefined : { name, source: { kind: 'static', initialFetchTimeoutMs: 0 } };
  }
  const source = m.opt('sds_config', sdsConfigSource);
  return name === undefined || source === undefined ? undefined : { name, source };
});

const COMBINED_VALIDATION_CONTEXT = defineMessage({
  name: 'envoy.extensions.transport_sockets.tls.v3.CommonTlsContext.CombinedCertificateValidationContext',
  fields: ['default_validation_context', 'validation_context_sds_secret_config'],
  unsupported: ['validation_context_certificate_provider', 'validation_context_certificate_provider_instance'],
});

/** What Istio generates: SAN matchers inline, the trust bundle (ROOTCA) over SDS; merged at runtime. */
const combinedValidationContext = message(COMBINED_VALIDATION_CONTEXT, (m) => {
  const def = m.get('default_validation_context', validationContextOf(true), { trustedCa: null, matchTypedSubjectAltNames: [], crl: null });
  const sds = m.req('validation_context_sds_secret_config', sdsSecretConfig);
  if (def.trustedCa !== null) {
    m.at('default_validation_context').field('trusted_ca').fail('expected no trusted_ca here (the trust bundle comes from validation_context_sds_secret_config)');
  }
  return sds === undefined ? undefined : { def, sds };
});

const SECRET = defineMessage({
  name: 'envoy.extensions.transport_sockets.tls.v3.Secret',
  fields: ['name', 'tls_certificate', 'validation_context'],
  unsupported: ['session_ticket_keys', 'generic_secret'],
});

const SECRET_VALIDATION_CONTEXT = defineMessage({
  name: 'envoy.extensions.transport_sockets.tls.v3.CertificateValidationContext',
  fields: ['trusted_ca'],
  unsupported: [
    'crl', 'match_typed_subject_alt_names', 'ca_certificate_provider_instance', 'watched_directory', 'verify_certificate_spki',
    'verify_certificate_hash', 'match_subject_alt_names', 'require_signed_certificate_timestamp', 'allow_expired_certificate',
    'trust_chain_verification', 'custom_validator_config', 'only_verify_leaf_cert_crl', 'max_verify_depth', 'system_root_certs',
  ],
});

/**
 * envoy.extensions.transport_sockets.tls.v3.Secret as SDS delivers it (a file, a gRPC SDS server,
 * ADS): a `tls_certificate` (key pair checked) or a `validation_context` with a `trusted_ca` (PEM
 * checked); SAN matchers and CRLs belong in the referring context, not in the secret.
 */
export const secretResource: Reader<SecretValue> = message(SECRET, (m) => {
  const name = m.req('name', nonEmptyString);
  const which = m.oneof(['tls_certificate', 'validation_context'], { required: true, others: ['session_ticket_keys', 'generic_secret'] });
  if (name === undefined) return undefined;
  if (which === 'tls_certificate') {
    const c = m.opt('tls_certificate', tlsCertificate);
    return c === undefined ? undefined : { kind: 'tls_certificate', name, certificateChain: c.certificateChain.text, privateKey: c.privateKey.text };
  }
  if (which === 'validation_context') {
    const ca = m.opt('validation_context', message(SECRET_VALIDATION_CONTEXT, (v) => {
      const t = v.req('trusted_ca', tlsDataSource);
      if (t === undefined) return undefined;
      const certs = parseCertificates(t.text);
      if (typeof certs === 'string') return v.at('trusted_ca').fail(`expected PEM CA certificates (${certs}), got ${describe(t)}`);
      return t.text;
    }));
    return ca === undefined ? undefined : { kind: 'validation_context', name, trustedCa: ca };
  }
  return undefined;
});

// ───────────────────────────── parameters ─────────────────────────────

const TLS_PARAMETERS = defineMessage({
  name: 'envoy.extensions.transport_sockets.tls.v3.TlsParameters',
  fields: ['tls_minimum_protocol_version', 'tls_maximum_protocol_version', 'cipher_suites', 'ecdh_curves'],
  unsupported: ['signature_algorithms', 'compliance_policies'],
});

const tlsProtocolEnum = enumeration({ TLS_AUTO: 0, TLSv1_0: 1, TLSv1_1: 2, TLSv1_2: 3, TLSv1_3: 4 });
const VERSION: Record<string, TlsProtocolVersion | null> = {
  TLS_AUTO: null, TLSv1_0: 'TLSv1', TLSv1_1: 'TLSv1.1', TLSv1_2: 'TLSv1.2', TLSv1_3: 'TLSv1.3',
};
const VERSION_ORDER: readonly TlsProtocolVersion[] = ['TLSv1', 'TLSv1.1', 'TLSv1.2', 'TLSv1.3'];

export const DEFAULT_TLS_PARAMS: TlsParamsConfig = {
  minimumProtocolVersion: null, maximumProtocolVersion: null, cipherSuites: [], ecdhCurves: [],
};

const tlsParams: Reader<TlsParamsConfig> = message(TLS_PARAMETERS, (m) => {
  const min = VERSION[m.get('tls_minimum_protocol_version', tlsProtocolEnum, 'TLS_AUTO')] ?? null;
  const max = VERSION[m.get('tls_maximum_protocol_version', tlsProtocolEnum, 'TLS_AUTO')] ?? null;
  if (min !== null && max !== null && VERSION_ORDER.indexOf(min) > VERSION_ORDER.indexOf(max)) {
    m.at('tls_minimum_protocol_version').fail(`expected a version not above tls_maximum_protocol_version (${max}), got ${min}`);
  }
  const cipherSuites = m.get('cipher_suites', list(nonEmptyString), []);
  const ecdhCurves = m.get('ecdh_curves', list(nonEmptyString), []);
  if (cipherSuites.length > 0) {
    try { tls.createSecureContext({ ciphers: opensslCipherList(cipherSuites) }); } catch (err) {
      m.at('cipher_suites').fail(`expected cipher suites OpenSSL knows (${(err as Error).message}), got ${show(cipherSuites)}`);
    }
  }
  if (ecdhCurves.length > 0) {
    try { tls.createSecureContext({ ecdhCurve: ecdhCurves.join(':') }); } catch (err) {
      m.at('ecdh_curves').fail(`expected curve names OpenSSL knows (${(err as Error).message}), got ${show(ecdhCurves)}`);
    }
  }
  return { minimumProtocolVersion: min, maximumProtocolVersion: max, cipherSuites, ecdhCurves };
});

// ───────────────────────────── contexts ─────────────────────────────

const COMMON_TLS_CONTEXT = defineMessage({
  name: 'envoy.extensions.transport_sockets.tls.v3.CommonTlsContext',
  fields: [
    'tls_params', 'tls_certificates', 'validation_context', 'alpn_protocols', 'tls_certificate_sds_secret_configs',
    'validation_context_sds_secret_config', 'combined_validation_context',
  ],
  unsupported: [
    'tls_certificate_provider_instance', 'custom_tls_certificate_selector',
    'tls_certificate_certificate_provider', 'tls_certificate_certificate_provider_instance', 'validation_context_certificate_provider',
    'validation_context_certificate_provider_instance', 'custom_handshaker', 'key_log', 'read_ahead_buffer_size',
  ],
});

const ALPN_NAME: Reader<string> = reader('an ALPN protocol name (1..255 bytes)', (ctx, v) =>
  typeof v === 'string' && v.length > 0 && Buffer.byteLength(v) <= 255 ? v : ctx.expected('an ALPN protocol name (1..255 bytes)', v));

const commonTlsContext: Reader<CommonTlsContextConfig> = message(COMMON_TLS_CONTEXT, (m) => {
  const which = m.oneof(['validation_context', 'validation_context_sds_secret_config', 'combined_validation_context'], {
    required: false,
    others: ['validation_context_certificate_provider', 'validation_context_certificate_provider_instance'],
  });
  let validation: CertificateValidationConfig | null = null;
  let sdsValidation: SdsSecretRef | null = null;
  if (which === 'validation_context') validation = m.opt('validation_context', validationContext) ?? null;
  else if (which === 'validation_context_sds_secret_config') sdsValidation = m.opt('validation_context_sds_secret_config', sdsSecretConfig) ?? null;
  else if (which === 'combined_validation_context') {
    const c = m.opt('combined_validation_context', combinedValidationContext);
    if (c !== undefined) { validation = c.def; sdsValidation = c.sds; }
  }
  return {
    tlsCertificates: m.get('tls_certificates', list(tlsCertificate), []),
    validationContext: validation,
    alpnProtocols: m.get('alpn_protocols', list(ALPN_NAME), []),
    tlsParams: m.get('tls_params', tlsParams, DEFAULT_TLS_PARAMS),
    sdsCertificates: m.get('tls_certificate_sds_secret_configs', list(sdsSecretConfig), []),
    sdsValidation,
  };
});

const EMPTY_COMMON: CommonTlsContextConfig = {
  tlsCertificates: [], validationContext: null, alpnProtocols: [], tlsParams: DEFAULT_TLS_PARAMS, sdsCertificates: [], sdsValidation: null,
};

const DOWNSTREAM_TLS_CONTEXT = defineMessage({
  name: 'envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext',
  fields: ['common_tls_context', 'require_client_certificate'],
  unsupported: [
    'require_sni', 'session_ticket_keys', 'session_ticket_keys_sds_secret_config', 'disable_stateless_session_resumption',
    'disable_stateful_session_resumption', 'session_timeout', 'ocsp_staple_policy', 'full_scan_certs_on_sni_mismatch',
    'prefer_client_ciphers',
  ],
});

function decodeDownstream(m: Msg): DownstreamTlsConfig | undefined {
  const common = m.get('common_tls_context', commonTlsContext, EMPTY_COMMON);
  const requireClientCertificate = m.get('require_client_certificate', wrapped(bool), false);
  if (m.ctx.errorCount > 0 && common === EMPTY_COMMON) return undefined;
  if (common.tlsCertificates.length === 0 && common.sdsCertificates.length === 0 && !hasErrorsUnder(m.ctx, 'common_tls_context')) {
    m.at('common_tls_context').field('tls_certificates').expected('at least one certificate for a server (downstream) context', undefined);
  }
  // A validation context that was itself rejected (say, an unreadable trusted_ca) is not "missing".
  if (requireClientCertificate && common.validationContext?.trustedCa == null && common.sdsValidation === null
    && !hasErrorsUnder(m.at('common_tls_context'), 'validation_context')) {
    m.at('require_client_certificate').fail('expected only with common_tls_context.validation_context.trusted_ca or an SDS validation context (nothing to verify a client certificate against)');
  }
  return { kind: 'downstream_tls', commonTlsContext: common, requireClientCertificate };
}

/** Whether an error was already recorded under `<ctx>.<field>` (to avoid piling a second one on). */
function hasErrorsUnder(ctx: Ctx, field: string): boolean {
  const prefix = ctx.field(field).path;
  return ctx.errors.some((e) => e.startsWith(prefix));
}

const UPSTREAM_TLS_CONTEXT = defineMessage({
  name: 'envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext',
  fields: ['common_tls_context', 'sni'],
  unsupported: ['auto_host_sni', 'auto_sni_san_validation', 'allow_renegotiation', 'max_session_keys', 'enforce_rsa_key_usage'],
});

const SNI: Reader<string> = reader('a server name of at most 255 bytes', (ctx, v) =>
  typeof v === 'string' && Buffer.byteLength(v) <= 255 ? v : ctx.expected('a server name of at most 255 bytes', v));

function decodeUpstream(m: Msg): UpstreamTlsConfig | undefined {
  const common = m.get('common_tls_context', commonTlsContext, EMPTY_COMMON);
  if (common.tlsCertificates.length > 1) {
    m.at('common_tls_context').field('tls_certificates').fail(`expected at most one certificate for a client (upstream) context, got ${common.tlsCertificates.length}`);
  }
  const sds = common.sdsCertificates.length;
  if (sds > 1 || (sds === 1 && common.tlsCertificates.length > 0)) {
    m.at('common_tls_context').field('tls_certificate_sds_secret_configs')
      .fail(`expected at most one certificate for a client (upstream) context, got ${sds + common.tlsCertificates.length} with tls_certificates`);
  }
  return { kind: 'upstream_tls', commonTlsContext: common, sni: m.get('sni', SNI, '') };
}

export const downstreamTlsContextExtension: Extension<'downstream_transport_socket'> = {
  category: 'downstream_transport_socket',
  typeUrl: `${TLS_PACKAGE}.DownstreamTlsContext`,
  spec: DOWNSTREAM_TLS_CONTEXT,
  decode: (m) => decodeDownstream(m),
};

export const upstreamTlsContextExtension: Extension<'upstream_transport_socket'> = {
  category: 'upstream_transport_socket',
  typeUrl: `${TLS_PACKAGE}.UpstreamTlsContext`,
  spec: UPSTREAM_TLS_CONTEXT,
  decode: (m) => decodeUpstream(m),
};

// ───────────────────────────── transport socket ─────────────────────────────

const TRANSPORT_SOCKET = defineMessage({
  name: 'envoy.config.core.v3.TransportSocket',
  fields: ['typed_config'],
  informational: ['name'],
});

/** envoy.config.core.v3.TransportSocket with a typed_config of the given category. */
export function transportSocket<C extends 'downstream_transport_socket' | 'upstream_transport_socket'>(category: C): Reader<ExtensionOutputs[C]> {
  return message(TRANSPORT_SOCKET, (m) => {
    const name = m.get('name', string, '');
    return m.req('typed_config', typedConfig(category, { name }));
  });
}

// ───────────────────────────── listener filters ─────────────────────────────

const TLS_INSPECTOR = defineMessage({
  name: 'envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector',
  fields: [],
  unsupported: ['enable_ja3_fingerprinting', 'enable_ja4_fingerprinting', 'initial_read_buffer_size', 'max_client_hello_size',
    'close_connection_on_client_hello_parsing_errors'],
});

const HTTP_INSPECTOR = defineMessage({
  name: 'envoy.extensions.filters.listener.http_inspector.v3.HttpInspector',
  fields: [],
});

export const tlsInspectorExtension: Extension<'listener_filter'> = {
  category: 'listener_filter',
  typeUrl: 'type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector',
  spec: TLS_INSPECTOR,
  decode: (_m, info) => ({ kind: 'tls_inspector', name: info.name || 'envoy.filters.listener.tls_inspector' }),
};

export const httpInspectorExtension: Extension<'listener_filter'> = {
  category: 'listener_filter',
  typeUrl: 'type.googleapis.com/envoy.extensions.filters.listener.http_inspector.v3.HttpInspector',
  spec: HTTP_INSPECTOR,
  decode: (_m, info) => ({ kind: 'http_inspector', name: info.name || 'envoy.filters.listener.http_inspector' }),
};

const LISTENER_FILTER = defineMessage({
  name: 'envoy.config.listener.v3.ListenerFilter',
  fields: ['typed_config'],
  unsupported: ['config_discovery', 'filter_disabled'],
  informational: ['name'],
});

/** envoy.config.listener.v3.ListenerFilter. */
export const listenerFilter: Reader<ListenerFilterConfig> = message(LISTENER_FILTER, (m) => {
  const name = m.get('name', string, '');
  const which = m.oneof(['typed_config'], { required: true, others: ['config_discovery'] });
  return which === undefined ? undefined : m.opt('typed_config', typedConfig('listener_filter', { name }));
});
