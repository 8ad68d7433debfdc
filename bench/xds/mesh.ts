// The control-plane benchmark's mesh: S services in the registry file format of src/control/registry/
// (each with 2–4 endpoints labelled v1/v2), and the Istio networking v1 resources over them
// (a DestinationRule with subsets v1 and v2 and a 90/10 VirtualService per service, a Sidecar).

export const NAMESPACE = 'default';
export const SERVICE_PORT = 9080;

export const serviceName = (i: number): string => `svc-${i}`;
export const hostname = (i: number): string => `${serviceName(i)}.${NAMESPACE}.svc.cluster.local`;

/** Endpoints of service i: 2, 3 or 4, alternating v1 and v2, on 127.1.<i>.<k> (never dialled). */
export function endpointCount(i: number): number {
  return 2 + (i % 3);
}

/** The registry file (YAML) with `services` services. */
export function registryYaml(services: number): string {
  const out = ['services:'];
  for (let i = 0; i < services; i++) {
    out.push(`  - name: ${serviceName(i)}`, `    namespace: ${NAMESPACE}`, `    ports:`, `      - {name: http, port: ${SERVICE_PORT}, protocol: HTTP}`, `    endpoints:`);
    for (let k = 0; k < endpointCount(i); k++) {
      out.push(`      - {address: ${endpointAddress(i, k)}, ports: {http: ${SERVICE_PORT}}, labels: {app: ${serviceName(i)}, version: v${1 + (k % 2)}}}`);
    }
  }
  return `${out.join('\n')}\n`;
}

export function endpointAddress(service: number, k: number): string {
  return `127.1.${service}.${k + 1}`;
}

/** A DestinationRule (subsets v1, v2) and a VirtualService (v1 `weightV1`%, v2 the rest) for every service. */
export function configYaml(services: number, weightV1 = 90): string {
  const docs: string[] = [];
  for (let i = 0; i < services; i++) docs.push(destinationRule(i), virtualService(i, weightV1));
  return docs.join('---\n');
}

export function destinationRule(i: number): string {
  return `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: ${serviceName(i)}
  namespace: ${NAMESPACE}
spec:
  host: ${serviceName(i)}
  subsets:
  - name: v1
    labels:
      version: v1
  - name: v2
    labels:
      version: v2
`;
}

export function virtualService(i: number, weightV1: number): string {
  return `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: ${serviceName(i)}
  namespace: ${NAMESPACE}
spec:
  hosts:
  - ${serviceName(i)}
  http:
  - route:
    - destination:
        host: ${serviceName(i)}
        subset: v1
      weight: ${weightV1}
    - destination:
        host: ${serviceName(i)}
        subset: v2
      weight: ${100 - weightV1}
`;
}

/** The namespace's default Sidecar: egress only to the given services of this namespace. */
export function sidecarYaml(services: readonly number[]): string {
  return `apiVersion: networking.istio.io/v1
kind: Sidecar
metadata:
  name: default
  namespace: ${NAMESPACE}
spec:
  egress:
  - hosts:
${services.map((i) => `    - ./${hostname(i)}`).join('\n')}
`;
}

/** The registration (POST /v1/registry/workloads) of one more v1 endpoint of service i. */
export function extraWorkload(i: number, k: number): Record<string, unknown> {
  return {
    service: serviceName(i),
    namespace: NAMESPACE,
    address: endpointAddress(i, 100 + k),
    ports: [{ name: 'http', port: SERVICE_PORT, targetPort: SERVICE_PORT, protocol: 'HTTP' }],
    labels: { app: serviceName(i), version: 'v1' },
    ttl: '300s',
  };
}
