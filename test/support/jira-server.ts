import { type CapturedRequest, type ScriptedAnswer, startTargetServer } from './target-server.ts';

// biome-ignore lint/suspicious/noExplicitAny: request bodies are read field by field
type Json = Record<string, any>;

/** A deployment as the fake Jira keeps it: the newest data by updateSequenceNumber. */
export interface FakeJiraDeployment {
  key: string;
  data: Json;
  /** Every submission of this key, accepted or ignored (an older updateSequenceNumber). */
  submissions: number;
}

/** A local stand-in for Atlassian's OAuth token endpoint and Jira Software's deployments API. */
export interface JiraServer {
  url: string;
  requests: CapturedRequest[];
  /** By `<pipelineId>/<environmentId>/<deploymentSequenceNumber>`. */
  deployments: Map<string, FakeJiraDeployment>;
  /** Tokens issued so far. */
  issued: string[];
  /** Makes every token issued so far invalid (as if they expired). */
  revokeTokens(): void;
  script(...answers: ScriptedAnswer[]): void;
  stop(): Promise<void>;
}

type Answer = { status: number; body?: unknown; headers?: Record<string, string> };

const STATES = ['unknown', 'pending', 'in_progress', 'cancelled', 'failed', 'rolled_back', 'successful'];
const ENVIRONMENT_TYPES = ['unmapped', 'development', 'testing', 'staging', 'production'];

/**
 * Starts a fake on 127.0.0.1 answering as Atlassian documents: `POST /oauth/token` with
 * `grant_type: client_credentials`, `audience: api.atlassian.com` and a known client id + secret gives
 * `{access_token, expires_in, token_type: "Bearer"}` (401 `{"error": "access_denied"}` otherwise);
 * `POST /jira/deployments/0.1/cloud/{cloudId}/bulk` needs a live bearer token (401), a known cloud id (404)
 * and a body of the documented shape (400 `{errors: [{message}]}`), and answers 202 with
 * `acceptedDeployments`, `rejectedDeployments` (a deployment all of whose issue keys are unknown) and
 * `unknownIssueKeys`. A deployment is replaced only by data with a higher `updateSequenceNumber`.
 */
export async function startJiraServer(options: {
  clients: Record<string, string>;
  cloudId: string;
  issueKeys: string[];
}): Promise<JiraServer> {
  const server = await startTargetServer();
  const deployments = new Map<string, FakeJiraDeployment>();
  const issued: string[] = [];
  const live = new Set<string>();
  server.fallback = (request) => answer(request);

  function answer(request: CapturedRequest): Answer {
    if (request.method === 'POST' && request.path === '/oauth/token') return token(request);
    const match = /^\/jira\/deployments\/0\.1\/cloud\/([^/]+)\/bulk$/.exec(request.path);
    if (request.method !== 'POST' || !match) return { status: 404, body: { message: 'Not Found' } };
    const bearer = /^Bearer (.+)$/.exec(String(request.headers.authorization ?? ''))?.[1];
    if (!bearer || !live.has(bearer)) return { status: 401, body: { code: 401, message: 'Unauthorized' } };
    if (decodeURIComponent(match[1] as string) !== options.cloudId) {
      return { status: 404, body: { code: 404, message: 'Cloud id not found' } };
    }
    let body: Json;
    try {
      body = request.json<Json>();
    } catch {
      return badRequest('Request body is not valid JSON');
    }
    const list = body.deployments;
    if (!Array.isArray(list) || list.length < 1 || list.length > 100) {
      return badRequest('deployments must hold 1 to 100 deployments');
    }
    const accepted: Json[] = [];
    const rejected: Json[] = [];
    const unknown = new Set<string>();
    for (const deployment of list as Json[]) {
      const problem = shapeProblem(deployment);
      if (problem) return badRequest(problem);
      const key = {
        pipelineId: deployment.pipeline.id,
        environmentId: deployment.environment.id,
        deploymentSequenceNumber: deployment.deploymentSequenceNumber,
      };
      const keys: string[] = deployment.associations.flatMap((a: Json) => a.values as string[]);
      const known = keys.filter((k) => options.issueKeys.includes(k));
      for (const k of keys) if (!known.includes(k)) unknown.add(k);
      if (known.length === 0) {
        rejected.push({
          key,
          errors: [{ message: 'The deployment is associated only with unknown issue keys' }],
        });
        continue;
      }
      accepted.push(key);
      const id = `${key.pipelineId}/${key.environmentId}/${key.deploymentSequenceNumber}`;
      const current = deployments.get(id);
      if (!current) deployments.set(id, { key: id, data: deployment, submissions: 1 });
      else {
        current.submissions++;
        if (deployment.updateSequenceNumber > current.data.updateSequenceNumber) current.data = deployment;
      }
    }
    return {
      status: 202,
      body: {
        acceptedDeployments: accepted,
        rejectedDeployments: rejected,
        unknownIssueKeys: [...unknown],
      },
    };
  }

  function token(request: CapturedRequest): Answer {
    let body: Json;
    try {
      body = request.json<Json>();
    } catch {
      return { status: 400, body: { error: 'invalid_request' } };
    }
    if (body.grant_type !== 'client_credentials' || body.audience !== 'api.atlassian.com') {
      return {
        status: 400,
        body: { error: 'invalid_request', error_description: 'unsupported grant or audience' },
      };
    }
    if (
      options.clients[body.client_id] === undefined ||
      options.clients[body.client_id] !== body.client_secret
    ) {
      return { status: 401, body: { error: 'access_denied', error_description: 'Unauthorized' } };
    }
    const value = `jira-access-token-${issued.length + 1}-Zq8Rw2`;
    issued.push(value);
    live.add(value);
    return {
      status: 200,
      body: {
        access_token: value,
        expires_in: 3600,
        token_type: 'Bearer',
        scope: 'manage:jira-data-provider',
      },
    };
  }

  return {
    get url() {
      return server.url;
    },
    requests: server.requests,
    deployments,
    issued,
    revokeTokens: () => live.clear(),
    script: (...answers) => server.script(...answers),
    stop: () => server.stop(),
  };
}

const badRequest = (message: string): Answer => ({ status: 400, body: { errors: [{ message }] } });

function shapeProblem(d: Json): string | undefined {
  for (const field of ['deploymentSequenceNumber', 'updateSequenceNumber']) {
    if (!Number.isSafeInteger(d[field])) return `${field} must be an integer`;
  }
  for (const field of ['displayName', 'url', 'description', 'lastUpdated', 'state']) {
    if (typeof d[field] !== 'string' || d[field] === '') return `${field} is required`;
    if (field !== 'url' && d[field].length > 255) return `${field} is longer than 255 characters`;
  }
  if (!STATES.includes(d.state)) return `state must be one of ${STATES.join(', ')}`;
  if (Number.isNaN(Date.parse(d.lastUpdated))) return 'lastUpdated must be an ISO 8601 date-time';
  if (!d.pipeline?.id || !d.pipeline?.displayName || !d.pipeline?.url)
    return 'pipeline.id, displayName and url are required';
  if (!d.environment?.id || !d.environment?.displayName) return 'environment.id and displayName are required';
  if (!ENVIRONMENT_TYPES.includes(d.environment.type))
    return `environment.type must be one of ${ENVIRONMENT_TYPES.join(', ')}`;
  if (!Array.isArray(d.associations) || d.associations.length === 0) return 'associations are required';
  for (const a of d.associations as Json[]) {
    if (
      !['issueKeys', 'issueIdOrKeys'].includes(a.associationType) ||
      !Array.isArray(a.values) ||
      a.values.length > 500
    ) {
      return 'associations must be issueIdOrKeys with at most 500 values';
    }
  }
  return undefined;
}
