// Kubernetes-style name resolution and Istio's port-name protocol rule.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lookupService, portProtocol, qualifyHost } from '../../../src/control/registry/names.js';
import type { ServiceDef } from '../../../src/control/model.js';

test('short names resolve relative to the namespace, as Istio resolves Kubernetes services', () => {
  assert.equal(qualifyHost('reviews', 'default'), 'reviews.default.svc.cluster.local');
  assert.equal(qualifyHost('reviews', 'prod'), 'reviews.prod.svc.cluster.local');
  assert.equal(qualifyHost('reviews.prod', 'default'), 'reviews.prod.svc.cluster.local');
  assert.equal(qualifyHost('reviews.prod.svc', 'default'), 'reviews.prod.svc.cluster.local');
  assert.equal(qualifyHost('reviews.prod.svc.cluster.local', 'default'), 'reviews.prod.svc.cluster.local');
  assert.equal(qualifyHost('api.example.com', 'default'), 'api.example.com');
  const svc = (hostname: string): ServiceDef => ({ hostname, name: hostname, namespace: 'default', ports: [], location: 'MESH_EXTERNAL', resolution: 'DNS', source: 'service-entry' });
  const services = [svc('reviews.prod.svc.cluster.local'), svc('api.example.com')];
  assert.equal(lookupService(services, 'reviews', 'prod'), services[0]);
  assert.equal(lookupService(services, 'reviews', 'default'), undefined);
  assert.equal(lookupService(services, 'api.example.com', 'default'), services[1]);
});

test('protocols come from an explicit value or the port name prefix', () => {
  assert.equal(portProtocol('http-web'), 'HTTP');
  assert.equal(portProtocol('grpc'), 'GRPC');
  assert.equal(portProtocol('tcp-db'), 'TCP');
  assert.equal(portProtocol('web', 'http2'), 'HTTP2');
  assert.equal(portProtocol('web'), 'UNKNOWN');
});
