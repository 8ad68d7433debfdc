// The validator for Istio networking resources (networking.istio.io v1, v1beta1, v1alpha3): one
// parsed YAML/JSON document in, a frozen ConfigResource with the kind's typed spec out, or every
// error at once, each as `<source>: <Kind> <namespace>/<name>: <path>: <what was expected>`.

import { ISTIO_KINDS, KIND_GROUP, type ConfigResource, type IstioKind, type ResourceMeta, type ResourceValidator, type ValidateResult } from '../model.js';
import { Ctx, deepFreeze, describe, isDnsLabel, isDnsSubdomain, isObject, shape, str, stringMap, type Field } from './common.js';
import { validateDestinationRule } from './destination-rule.js';
import { validateGateway } from './gateway.js';
import { validateServiceEntry } from './service-entry.js';
import { validateSidecar } from './sidecar.js';
import { validateVirtualService } from './virtual-service.js';
import { validatePeerAuthentication } from './peer-authentication.js';
import { validateAuthorizationPolicy } from './authorization-policy.js';
import { validateRequestAuthentication } from './request-authentication.js';
import { SECRET_FIELDS, validateSecret } from './secret.js';

export { NOT_YET_MTLS } from './destination-rule.js';
export type * from './types.js';

/** The API versions accepted per group; Istio serves the same schema under each. */
export const API_VERSIONS = ['networking.istio.io/v1', 'networking.istio.io/v1beta1', 'networking.istio.io/v1alpha3'] as const;
export const SECURITY_API_VERSIONS = ['security.istio.io/v1', 'security.istio.io/v1beta1'] as const;
const VERSIONS_OF = { 'networking.istio.io': API_VERSIONS, 'security.istio.io': SECURITY_API_VERSIONS, '': ['v1'] } as const;

const SPEC_VALIDATORS: Readonly<Record<IstioKind, (spec: unknown, c: Ctx) => unknown>> = {
  VirtualService: validateVirtualService,
  DestinationRule: validateDestinationRule,
  Gateway: validateGateway,
  ServiceEntry: validateServiceEntry,
  Sidecar: validateSidecar,
  PeerAuthentication: validatePeerAuthentication,
  AuthorizationPolicy: validateAuthorizationPolicy,
  RequestAuthentication: validateRequestAuthentication,
  Secret: () => undefined, // a Secret has no spec: validated from the document (validateSecret)
};

const ISTIO_GROUP = 'networking.istio.io';

/** The other kinds Istio defines in networking.istio.io: told "not supported yet", not "unknown kind". */
const OTHER_NETWORKING_KINDS = ['EnvoyFilter', 'WorkloadEntry', 'WorkloadGroup', 'ProxyConfig'];

/**
 * `KIND (GROUP/VERSION) is not supported yet` for a document Weft does not serve: a kind of another
 * API group (Gateway API's Gateway and HTTPRoute, security.istio.io, telemetry.istio.io,
 * extensions.istio.io, Kubernetes' own, ...) or another networking.istio.io kind. Matching the
 * group as well as the kind keeps a Gateway API `Gateway` from being checked as an Istio Gateway.
 * Undefined when the document is for the validator (or its envelope is malformed, which the
 * validator reports field by field).
 */
export function unsupportedKind(apiVersion: unknown, kind: unknown): string | undefined {
  if (typeof apiVersion !== 'string' || typeof kind !== 'string' || apiVersion === '' || kind === '') return undefined;
  const slash = apiVersion.lastIndexOf('/');
  const group = slash < 0 ? '' : apiVersion.slice(0, slash);
  if (group === ISTIO_GROUP && !OTHER_NETWORKING_KINDS.includes(kind)) return undefined;
  if (group === 'security.istio.io' && (ISTIO_KINDS as readonly string[]).includes(kind)) return undefined;
  if (apiVersion === 'v1' && kind === 'Secret') return undefined;
  return `${kind} (${apiVersion}) is not supported yet`;
}

/** Metadata fields Kubernetes manages; accepted (a `kubectl get -o yaml` output validates) and ignored. */
const IGNORED_META = ['uid', 'resourceVersion', 'creationTimestamp', 'generation', 'generateName', 'managedFields', 'finalizers', 'ownerReferences', 'selfLink', 'deletionTimestamp', 'deletionGracePeriodSeconds'];
const ignored: Field<undefined> = () => undefined;

/**
 * Validates one document. Unknown fields are errors, as Kubernetes' structural schema would
 * reject them; defaults are filled as `types.ts` declares (lists empty, namespace `default`).
 *
 * @example
 * const r = validateDocument(YAML.parse(text), 'reviews.yaml#1');
 * if (!r.ok) console.error(r.errors.join('\n'));
 */
export const validateDocument: ResourceValidator = (doc: unknown, source: string): ValidateResult => {
  const c = new Ctx(`${source}: `);
  if (!isObject(doc)) {
    c.expected('document', 'an object with apiVersion, kind, metadata, spec', doc);
    return { ok: false, errors: c.errors };
  }
  const unsupported = unsupportedKind(doc.apiVersion, doc.kind);
  if (unsupported !== undefined) return { ok: false, errors: [`${source}: ${unsupported}`] };
  const kind = doc.kind;
  const md = isObject(doc.metadata) ? doc.metadata : {};
  const name = typeof md.name === 'string' ? md.name : '';
  const namespace = md.namespace == null ? 'default' : typeof md.namespace === 'string' ? md.namespace : '';
  const kindOk = typeof kind === 'string' && (ISTIO_KINDS as readonly string[]).includes(kind);
  if (kindOk) c.prefix = `${source}: ${kind} ${namespace}/${name === '' ? '<unnamed>' : name}: `;

  const versions: readonly string[] = kindOk ? VERSIONS_OF[KIND_GROUP[kind as IstioKind]] : API_VERSIONS;
  if (!versions.includes(doc.apiVersion as string)) c.expected('apiVersion', `one of ${versions.join(', ')}`, doc.apiVersion);
  if (!kindOk) c.expected('kind', `one of ${ISTIO_KINDS.join(', ')}`, kind);
  const isSecret = kind === 'Secret';
  const topLevel = isSecret ? ['apiVersion', 'kind', 'metadata', ...SECRET_FIELDS] : ['apiVersion', 'kind', 'metadata', 'spec', 'status'];
  for (const k of Object.keys(doc)) {
    if (!topLevel.includes(k)) c.fail(k, 'unknown field');
  }

  const metaFields: Record<string, Field<unknown>> = { name: str, namespace: str, labels: stringMap, annotations: stringMap };
  for (const k of IGNORED_META) metaFields[k] = ignored;
  const meta = doc.metadata == null ? (c.expected('metadata', 'an object with a name', undefined), undefined) : shape(c, doc.metadata, 'metadata', metaFields);
  if (meta !== undefined && !isDnsSubdomain(name)) c.expected('metadata.name', 'a DNS-1123 subdomain (lower-case alphanumerics, - and .)', md.name);
  if (meta !== undefined && kind === 'Gateway' && isDnsSubdomain(name) && !isDnsLabel(name)) c.expected('metadata.name', 'a DNS-1123 label for a Gateway (no dots: VirtualServices refer to it as namespace/name)', md.name);
  if (meta !== undefined && md.namespace != null && !isDnsLabel(namespace)) c.expected('metadata.namespace', 'a DNS-1123 label (lower-case alphanumerics and -, at most 63)', md.namespace);

  let spec: unknown;
  if (isSecret) spec = validateSecret(doc, c);
  else if (doc.spec == null) c.expected('spec', 'an object', undefined);
  else if (kindOk) spec = SPEC_VALIDATORS[kind as IstioKind](doc.spec, c);

  if (c.errors.length > 0 || spec === undefined) {
    if (c.errors.length === 0) c.fail('spec', `expected a valid ${String(kind)} spec, got ${describe(doc.spec)}`);
    return { ok: false, errors: c.errors };
  }
  const metadata: ResourceMeta = {
    name,
    namespace,
    labels: meta?.labels ?? {},
    annotations: meta?.annotations ?? {},
    resourceVersion: '',
    creationTimestamp: '',
    generation: 0,
  };
  const value: ConfigResource = { apiVersion: doc.apiVersion as string, kind: kind as IstioKind, metadata, spec };
  return { ok: true, value: deepFreeze(value) };
};
