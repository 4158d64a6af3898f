import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A local stand-in for AWS Secrets Manager, speaking its wire protocol (AWS JSON 1.1), so a real
 * SecretsManagerClient (e.g. the one bundled into the Lambda functions) can be pointed at it with
 * `endpoint` or `AWS_ENDPOINT_URL_SECRETS_MANAGER`: `POST /` with
 * `x-amz-target: secretsmanager.<Op>` and `content-type: application/x-amz-json-1.1`; errors are
 * HTTP 400 with `{"__type", "message"}`. Only GetSecretValue is implemented (current version only).
 */

/** A request the server received. */
export interface CapturedSecretsRequest {
  target: string | undefined;
  contentType: string | undefined;
  /** True when the request carried a SigV4 Authorization header. */
  signed: boolean;
  body: unknown;
}

/** A running fake Secrets Manager holding `secrets` (name → SecretString). */
export interface SecretsManagerServer {
  endpoint: string;
  requests: CapturedSecretsRequest[];
  /** Secret name → SecretString; change it freely while the server runs. */
  secrets: Map<string, string>;
  close(): Promise<void>;
}

const TARGET_PREFIX = 'secretsmanager.';
const JSON_11 = 'application/x-amz-json-1.1';
const REGION = 'us-east-1';
const ACCOUNT = '123456789012';
/** Secrets Manager appends a dash and six random characters to the name in a secret's ARN. */
const ARN_SUFFIX = '-AbC123';
const CREATED = Math.floor(Date.parse('2026-01-01T00:00:00Z') / 1000);

const arnOf = (name: string) => `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:${name}${ARN_SUFFIX}`;

/** Starts the fake on 127.0.0.1 on a random port. */
export async function startSecretsManagerServer(
  secrets: Record<string, string> = {},
): Promise<SecretsManagerServer> {
  const state: Omit<SecretsManagerServer, 'endpoint' | 'close'> = {
    requests: [],
    secrets: new Map(Object.entries(secrets)),
  };

  const server = createServer((req, res) => {
    void handle(req, res).catch((error: unknown) => {
      send(res, 500, { __type: 'InternalServiceError', message: String(error) });
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    const target = header(req, 'x-amz-target');
    const contentType = header(req, 'content-type');
    let body: unknown;
    try {
      body = raw ? JSON.parse(raw) : {};
    } catch {
      state.requests.push({ target, contentType, signed: Boolean(header(req, 'authorization')), body: raw });
      return send(res, 400, { __type: 'SerializationException', message: 'body is not JSON' });
    }
    state.requests.push({ target, contentType, signed: Boolean(header(req, 'authorization')), body });

    if (req.method !== 'POST' || req.url !== '/') {
      return send(res, 404, { __type: 'UnknownOperationException', message: `${req.method} ${req.url}` });
    }
    if (!contentType?.startsWith(JSON_11)) {
      return send(res, 400, {
        __type: 'SerializationException',
        message: `unexpected content-type ${contentType}`,
      });
    }
    if (target !== `${TARGET_PREFIX}GetSecretValue`) {
      return send(res, 400, { __type: 'UnknownOperationException', message: `unknown operation ${target}` });
    }
    const secretId = (body as { SecretId?: unknown }).SecretId;
    if (typeof secretId !== 'string' || secretId.length === 0) {
      return send(res, 400, {
        __type: 'InvalidParameterException',
        message: 'You must provide a value for SecretId.',
      });
    }
    // SecretId is a name or a (full) ARN.
    const name = [...state.secrets.keys()].find((n) => n === secretId || arnOf(n) === secretId);
    if (name === undefined) {
      return send(res, 400, {
        __type: 'ResourceNotFoundException',
        message: "Secrets Manager can't find the specified secret.",
      });
    }
    send(res, 200, {
      ARN: arnOf(name),
      Name: name,
      SecretString: state.secrets.get(name),
      VersionId: '00000000-0000-4000-8000-000000000001',
      VersionStages: ['AWSCURRENT'],
      // AWS JSON 1.1 timestamps are epoch seconds.
      CreatedDate: CREATED,
    });
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return Object.assign(state, {
    endpoint: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  });
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': JSON_11,
    'content-length': Buffer.byteLength(text),
    'x-amzn-requestid': `req-${Math.random().toString(16).slice(2)}`,
  });
  res.end(text);
}
