import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A local stand-in for the CodeDeploy API, speaking its wire protocol (AWS JSON 1.1), so the real
 * CodeDeployClient can be tested end to end: `POST /` with `x-amz-target: CodeDeploy_20141006.<Op>`
 * and `content-type: application/x-amz-json-1.1`; errors are HTTP 400 with `{"__type", "message"}`.
 * Only BatchGetDeployments is implemented.
 */

/** A request the server received. */
export interface CapturedRequest {
  target: string | undefined;
  contentType: string | undefined;
  /** True when the request carried a SigV4 Authorization header. */
  signed: boolean;
  body: unknown;
}

/** An error the next matching call answers with instead of the deployments. */
export interface ScriptedFailure {
  /** AWS error name, e.g. `ThrottlingException`, `AccessDeniedException`. */
  type: string;
  message: string;
  status?: number;
  /** Only calls asking for one of these ids fail; all calls when absent. */
  whenIds?: string[];
  /** Fail only this many times (then removed); forever when absent. */
  times?: number;
}

/** A running fake CodeDeploy. `deployments` holds `deploymentInfo` objects in wire form (epoch-second times). */
export interface CodeDeployServer {
  endpoint: string;
  requests: CapturedRequest[];
  deployments: Map<string, Record<string, unknown>>;
  failures: ScriptedFailure[];
  /** Extra top-level fields added to successful BatchGetDeployments answers. */
  extraOutput: Record<string, unknown>;
  close(): Promise<void>;
}

const TARGET_PREFIX = 'CodeDeploy_20141006.';
const JSON_11 = 'application/x-amz-json-1.1';

/** Starts the fake on 127.0.0.1 on a random port. */
export async function startCodeDeployServer(
  deployments: Record<string, unknown>[] = [],
): Promise<CodeDeployServer> {
  const state: Omit<CodeDeployServer, 'endpoint' | 'close'> = {
    requests: [],
    deployments: new Map(deployments.map((d) => [String(d.deploymentId), d])),
    failures: [],
    extraOutput: {},
  };

  const server = createServer((req, res) => {
    void handle(req, res).catch((error: unknown) => {
      send(res, 500, { __type: 'InternalFailure', message: String(error) });
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    let body: unknown;
    try {
      body = raw ? JSON.parse(raw) : {};
    } catch {
      return send(res, 400, { __type: 'SerializationException', message: 'body is not JSON' });
    }
    const target = header(req, 'x-amz-target');
    const contentType = header(req, 'content-type');
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
    if (target !== `${TARGET_PREFIX}BatchGetDeployments`) {
      return send(res, 400, { __type: 'UnknownOperationException', message: `unknown operation ${target}` });
    }
    const ids = (body as { deploymentIds?: unknown }).deploymentIds;
    if (!Array.isArray(ids) || ids.length === 0) {
      return send(res, 400, {
        __type: 'DeploymentIdRequiredException',
        message: 'At least one deployment ID must be specified',
      });
    }
    if (ids.length > 25) {
      return send(res, 400, {
        __type: 'BatchLimitExceededException',
        message: 'The maximum number of names or IDs allowed for this request (25) was exceeded.',
      });
    }
    const failure = state.failures.find((f) => !f.whenIds || f.whenIds.some((id) => ids.includes(id)));
    if (failure) {
      if (failure.times !== undefined && --failure.times <= 0)
        state.failures.splice(state.failures.indexOf(failure), 1);
      return send(res, failure.status ?? 400, { __type: failure.type, message: failure.message });
    }
    // Like CodeDeploy, unknown ids are simply left out of the answer.
    const deploymentsInfo = ids.flatMap((id) => {
      const info = state.deployments.get(String(id));
      return info ? [info] : [];
    });
    send(res, 200, { deploymentsInfo, ...state.extraOutput });
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
