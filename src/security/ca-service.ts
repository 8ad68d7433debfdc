// Istio's certificate API (`istio.v1.auth.IstioCertificateService/CreateCertificate`, from istio/api
// security/v1alpha1/ca.proto), written out as a protobufjs JSON descriptor and a grpc-js service
// definition, so the CA (src/control/ca/) serves it and the sidecar agent (src/sidecar/agent/), or
// Istio's own agent, calls it. The caller proves its identity with `authorization: Bearer <token>`
// metadata (a token from `weft token create`); the CSR's one URI SAN names the identity it wants.

import type { ServiceDefinition } from '@grpc/grpc-js';
import protobuf from 'protobufjs';

export const CA_SERVICE = 'istio.v1.auth.IstioCertificateService';
export const CREATE_CERTIFICATE_PATH = `/${CA_SERVICE}/CreateCertificate`;

export interface IstioCertificateRequest {
  /** PEM CSR. */
  csr: string;
  subject_id?: string;
  /** Requested lifetime in seconds (0: the CA's default). */
  validity_duration?: number | string;
  metadata?: unknown;
}

export interface IstioCertificateResponse {
  /** PEM certificates: the leaf first, the root last. */
  cert_chain: string[];
}

const root = protobuf.Root.fromJSON(({
  nested: {
    google: { nested: { protobuf: { nested: {
      Struct: { fields: { fields: { keyType: 'string', type: 'Value', id: 1 } } },
      Value: {
        oneofs: { kind: { oneof: ['null_value', 'number_value', 'string_value', 'bool_value', 'struct_value', 'list_value'] } },
        fields: {
          null_value: { type: 'int32', id: 1 }, number_value: { type: 'double', id: 2 }, string_value: { type: 'string', id: 3 },
          bool_value: { type: 'bool', id: 4 }, struct_value: { type: 'Struct', id: 5 }, list_value: { type: 'ListValue', id: 6 },
        },
      },
      ListValue: { fields: { values: { rule: 'repeated', type: 'Value', id: 1 } } },
    } } } },
    istio: { nested: { v1: { nested: { auth: { nested: {
      IstioCertificateRequest: {
        fields: {
          csr: { type: 'string', id: 1 }, subject_id: { type: 'string', id: 2 }, validity_duration: { type: 'int64', id: 3 },
          metadata: { type: 'google.protobuf.Struct', id: 4 },
        },
      },
      IstioCertificateResponse: { fields: { cert_chain: { rule: 'repeated', type: 'string', id: 1 } } },
    } } } } } },
  },
}) as protobuf.INamespace);

const Req = root.lookupType('istio.v1.auth.IstioCertificateRequest');
const Res = root.lookupType('istio.v1.auth.IstioCertificateResponse');
const toObject = { longs: Number, defaults: true, arrays: true } as const;

/** The grpc-js service definition (server: addService; client: makeGenericClientConstructor). */
export const caServiceDefinition: ServiceDefinition = {
  CreateCertificate: {
    path: CREATE_CERTIFICATE_PATH,
    requestStream: false,
    responseStream: false,
    requestSerialize: (m: IstioCertificateRequest) => Buffer.from(Req.encode(Req.fromObject(m)).finish()),
    requestDeserialize: (b: Buffer) => Req.toObject(Req.decode(b), toObject) as IstioCertificateRequest,
    responseSerialize: (m: IstioCertificateResponse) => Buffer.from(Res.encode(Res.fromObject(m)).finish()),
    responseDeserialize: (b: Buffer) => Res.toObject(Res.decode(b), toObject) as IstioCertificateResponse,
    originalName: 'createCertificate',
  },
};
