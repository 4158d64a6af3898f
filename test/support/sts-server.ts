import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A local stand-in for AWS STS's AssumeRole, speaking its query protocol: `POST /` with a form body
 * (`Action=AssumeRole&Version=2011-06-15&RoleArn=…&RoleSessionName=…`), answered in XML
 * (`AssumeRoleResponse/AssumeRoleResult/Credentials`), errors as `ErrorResponse/Error` with `Code` and
 * `Message` (403 AccessDenied for a role that does not trust the caller).
 * API: https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRole.html
 */

/** A request the server received. */
export interface StsRequest {
  action: string | null;
  roleArn: string | null;
  roleSessionName: string | null;
  durationSeconds: string | null;
  /** True when the request carried a SigV4 Authorization header. */
  signed: boolean;
}

/** A running STS stand-in. */
export interface StsServer {
  endpoint: string;
  requests: StsRequest[];
  /** Roles that trust the caller, by ARN, with the account each is in. */
  roles: Map<string, { account: string }>;
  /** Access key ids issued so far → the account of the role they were issued for. */
  issued: Map<string, string>;
  /** Lifetime of issued credentials in seconds (default: the DurationSeconds asked for, else 3600). */
  lifetimeSeconds?: number;
  close(): Promise<void>;
}

let issuedCounter = 0;
let requestCounter = 0;
const XMLNS = 'https://sts.amazonaws.com/doc/2011-06-15/';

/** Starts the stand-in on 127.0.0.1 on a random port. */
export async function startStsServer(): Promise<StsServer> {
  const state: Omit<StsServer, 'endpoint' | 'close'> = { requests: [], roles: new Map(), issued: new Map() };
  const server = createServer((req, res) => {
    void handle(req, res).catch((error: unknown) => {
      sendError(res, 500, 'Receiver', 'InternalFailure', String(error));
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
    const request: StsRequest = {
      action: form.get('Action'),
      roleArn: form.get('RoleArn'),
      roleSessionName: form.get('RoleSessionName'),
      durationSeconds: form.get('DurationSeconds'),
      signed: Boolean(req.headers.authorization),
    };
    state.requests.push(request);
    if (req.method !== 'POST') return sendError(res, 400, 'Sender', 'InvalidAction', 'expected POST');
    if (!request.signed) {
      return sendError(
        res,
        403,
        'Sender',
        'MissingAuthenticationToken',
        'Request is missing Authentication Token',
      );
    }
    if (request.action !== 'AssumeRole' || form.get('Version') !== '2011-06-15') {
      return sendError(res, 400, 'Sender', 'InvalidAction', `Could not find operation ${request.action}`);
    }
    if (!request.roleArn || !request.roleSessionName) {
      return sendError(res, 400, 'Sender', 'ValidationError', 'RoleArn and RoleSessionName are required');
    }
    const role = state.roles.get(request.roleArn);
    if (!role) {
      return sendError(
        res,
        403,
        'Sender',
        'AccessDenied',
        `User: arn:aws:sts::999999999999:assumed-role/shipcast-ingest/shipcast is not authorized to perform: sts:AssumeRole on resource: ${request.roleArn}`,
      );
    }
    const seconds = state.lifetimeSeconds ?? Number(request.durationSeconds ?? 3600);
    const accessKeyId = `ASIASTANDIN${String(++issuedCounter).padStart(9, '0')}`;
    state.issued.set(accessKeyId, role.account);
    const roleName = request.roleArn.slice(request.roleArn.lastIndexOf('/') + 1);
    const expiration = new Date(Date.now() + seconds * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
    send(
      res,
      200,
      `<AssumeRoleResponse xmlns="${XMLNS}">
  <AssumeRoleResult>
    <AssumedRoleUser>
      <Arn>arn:aws:sts::${role.account}:assumed-role/${roleName}/${request.roleSessionName}</Arn>
      <AssumedRoleId>AROASTANDIN${issuedCounter}:${request.roleSessionName}</AssumedRoleId>
    </AssumedRoleUser>
    <Credentials>
      <AccessKeyId>${accessKeyId}</AccessKeyId>
      <SecretAccessKey>stand-in-secret-${issuedCounter}</SecretAccessKey>
      <SessionToken>stand-in-session-token-${issuedCounter}</SessionToken>
      <Expiration>${expiration}</Expiration>
    </Credentials>
    <PackedPolicySize>0</PackedPolicySize>
  </AssumeRoleResult>
  <ResponseMetadata><RequestId>sts-${++requestCounter}</RequestId></ResponseMetadata>
</AssumeRoleResponse>`,
    );
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

function sendError(res: ServerResponse, status: number, type: string, code: string, message: string): void {
  send(
    res,
    status,
    `<ErrorResponse xmlns="${XMLNS}">
  <Error><Type>${type}</Type><Code>${code}</Code><Message>${escapeXml(message)}</Message></Error>
  <RequestId>sts-${++requestCounter}</RequestId>
</ErrorResponse>`,
  );
}

function send(res: ServerResponse, status: number, xml: string): void {
  res.writeHead(status, { 'content-type': 'text/xml', 'content-length': Buffer.byteLength(xml) });
  res.end(xml);
}

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
