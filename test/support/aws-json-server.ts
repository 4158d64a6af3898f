import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** Ids that are unique within a run, never by chance. */
let requestCounter = 0;

/**
 * A local server speaking the AWS JSON 1.1 protocol, for fakes of one AWS operation each (CodeDeploy,
 * Secrets Manager): `POST /` with `x-amz-target: <prefix>.<Op>` and `content-type:
 * application/x-amz-json-1.1`; errors are `{"__type", "message"}` with their HTTP status. Every request
 * is captured; the protocol is checked here, the operation is the fake's.
 */

/** A request the server received. */
export interface CapturedAwsRequest {
  target: string | undefined;
  contentType: string | undefined;
  /** True when the request carried a SigV4 Authorization header. */
  signed: boolean;
  /** The region of the SigV4 credential scope (`Credential=<key>/<date>/<region>/<service>/aws4_request`). */
  region?: string;
  /** The access key id of the SigV4 credential scope: who is calling. */
  accessKeyId?: string;
  /** The parsed JSON body (the raw text when it was not JSON). */
  body: unknown;
}

/** An answer of the operation: HTTP status and JSON body (`{__type, message}` for an error). */
export interface AwsJsonAnswer {
  status: number;
  body: unknown;
}

const JSON_11 = 'application/x-amz-json-1.1';

/** An AWS error answer. */
export const awsError = (type: string, message: string, status = 400): AwsJsonAnswer => ({
  status,
  body: { __type: type, message },
});

/** Starts a server for `target` (the full `x-amz-target`) on 127.0.0.1 on a random port. */
export async function startAwsJsonServer(options: {
  target: string;
  /** The `__type` of an unexpected failure of the fake itself (the service's internal error name). */
  internalError: string;
  requests: CapturedAwsRequest[];
  operation: (body: Record<string, unknown>, request: CapturedAwsRequest) => AwsJsonAnswer;
  /** More operations of the same service, by their full `x-amz-target`. */
  operations?: Record<string, (body: Record<string, unknown>, request: CapturedAwsRequest) => AwsJsonAnswer>;
}): Promise<{ endpoint: string; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    void handle(req, res).catch((error: unknown) => {
      send(res, awsError(options.internalError, String(error), 500));
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    const target = header(req, 'x-amz-target');
    const contentType = header(req, 'content-type');
    const signed = Boolean(header(req, 'authorization'));
    const scope = /Credential=([^/]+)\/\d{8}\/([^/]+)\//.exec(header(req, 'authorization') ?? '');
    const [region, accessKeyId] = [scope?.[2], scope?.[1]];
    let body: unknown;
    try {
      body = raw ? JSON.parse(raw) : {};
    } catch {
      options.requests.push({ target, contentType, signed, region, accessKeyId, body: raw });
      return send(res, awsError('SerializationException', 'body is not JSON'));
    }
    const captured = { target, contentType, signed, region, accessKeyId, body };
    options.requests.push(captured);

    if (req.method !== 'POST' || req.url !== '/') {
      return send(res, awsError('UnknownOperationException', `${req.method} ${req.url}`, 404));
    }
    if (!contentType?.startsWith(JSON_11)) {
      return send(res, awsError('SerializationException', `unexpected content-type ${contentType}`));
    }
    const operation = target === options.target ? options.operation : target && options.operations?.[target];
    if (!operation) {
      return send(res, awsError('UnknownOperationException', `unknown operation ${target}`));
    }
    send(res, operation(body as Record<string, unknown>, captured));
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function send(res: ServerResponse, answer: AwsJsonAnswer): void {
  const text = JSON.stringify(answer.body);
  res.writeHead(answer.status, {
    'content-type': JSON_11,
    'content-length': Buffer.byteLength(text),
    'x-amzn-requestid': `req-${++requestCounter}`,
  });
  res.end(text);
}
