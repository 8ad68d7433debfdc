// A proxyless gRPC client in its own process (grpc-js-xds keeps its xDS client for the life of the
// process, so a test cannot close it): target and bootstrap from argv/env, and on each IPC message
// `{n, user?}` it makes n unary calls (with `end-user: <user>` metadata when given) and replies with
// the answers (the server's text, or `error <code>`).

import * as grpc from '@grpc/grpc-js';
import * as grpcXds from '@grpc/grpc-js-xds';

/** One unary method with raw-bytes messages: no .proto file needed. */
export const GREETER = {
  hello: {
    path: '/demo.Greeter/Hello', requestStream: false, responseStream: false,
    requestSerialize: (b: Buffer) => b, requestDeserialize: (b: Buffer) => b,
    responseSerialize: (b: Buffer) => b, responseDeserialize: (b: Buffer) => b,
  },
} satisfies grpc.ServiceDefinition;

type HelloClient = grpc.Client & {
  hello(req: Buffer, md: grpc.Metadata, opts: grpc.CallOptions, cb: (e: grpc.ServiceError | null, res?: Buffer) => void): grpc.ClientUnaryCall;
};

function main(): void {
  grpcXds.register();
  const Client = grpc.makeGenericClientConstructor(GREETER, 'Greeter');
  const client = new Client(process.argv[2]!, grpc.credentials.createInsecure()) as unknown as HelloClient;
  const call = (user?: string) => new Promise<string>((resolve) => {
    const md = new grpc.Metadata();
    if (user !== undefined) md.set('end-user', user);
    client.hello(Buffer.from('hi'), md, { deadline: Date.now() + 5000 }, (e, res) => resolve(e ? `error ${e.code} ${e.details}` : res!.toString()));
  });
  process.on('message', (m: { n: number; user?: string }) => {
    void (async () => {
      const out: string[] = [];
      for (let i = 0; i < m.n; i++) out.push(await call(m.user));
      process.send!(out);
    })();
  });
  process.on('disconnect', () => process.exit(0));
}

if (process.argv[1] !== undefined && import.meta.url.endsWith(process.argv[1].split('/').pop()!)) main();
