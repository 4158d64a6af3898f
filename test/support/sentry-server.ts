import { type CapturedRequest, type ScriptedAnswer, startTargetServer } from './target-server.ts';

/** A release as the fake Sentry keeps it. */
export interface FakeRelease {
  version: string;
  projects: string[];
  commits: { id: string; repository?: string }[];
  url?: string;
  dateReleased?: string;
  deploys: FakeDeploy[];
}

/** A deploy of a release. */
export interface FakeDeploy {
  id: string;
  environment: string;
  name?: string;
  url?: string;
  dateStarted?: string;
  dateFinished: string;
  projects: string[];
}

/** A local stand-in for Sentry's release and deploy endpoints of one organization. */
export interface SentryServer {
  url: string;
  requests: CapturedRequest[];
  releases: Map<string, FakeRelease>;
  /** Answers the next requests with these (nothing is stored), then behaves normally again. */
  script(...answers: ScriptedAnswer[]): void;
  stop(): Promise<void>;
}

export interface SentryServerOptions {
  organization: string;
  projects: string[];
  /** Tokens with project:releases. */
  tokens: string[];
  /** Valid tokens without the scope (403). */
  readOnlyTokens?: string[];
}

/** Sentry's 429 with its rate-limit headers (`reset`: epoch seconds) and, when given, `Retry-After`. */
export function sentryRateLimited(resetEpochSeconds: number, retryAfter?: number): ScriptedAnswer {
  return {
    status: 429,
    headers: {
      'x-sentry-rate-limit-limit': '40',
      'x-sentry-rate-limit-remaining': '0',
      'x-sentry-rate-limit-reset': String(resetEpochSeconds),
      'x-sentry-rate-limit-concurrentlimit': '25',
      'x-sentry-rate-limit-concurrentremaining': '24',
      ...(retryAfter !== undefined ? { 'retry-after': String(retryAfter) } : {}),
    },
    body: {
      detail: 'You are attempting to use this endpoint too frequently. Limit is 40 requests in 1 seconds',
    },
  };
}

const detail = (status: number, text: string): ScriptedAnswer => ({ status, body: { detail: text } });
const NOT_FOUND = detail(404, 'The requested resource does not exist');

/**
 * Starts a fake Sentry on 127.0.0.1 answering like `POST /api/0/organizations/{org}/releases/` (201, or 208
 * when the release exists and gains no project; 400 `{"field": ["…"]}` for a version Sentry refuses, unknown
 * projects or commits without an id) and `POST …/releases/{version}/deploys/` (201 with the deploy; 404
 * `{"detail": …}` when the release does not exist; 400 without an environment or with one Sentry refuses).
 * 401 `{"detail": "Invalid token"}` for an unknown bearer token, 403 for one without project:releases.
 */
export async function startSentryServer(options: SentryServerOptions): Promise<SentryServer> {
  const server = await startTargetServer();
  const releases = new Map<string, FakeRelease>();
  let nextDeploy = 1000;
  const prefix = `/api/0/organizations/${options.organization}/releases/`;
  const unknownProjects = (projects: unknown) =>
    !Array.isArray(projects) || projects.some((p) => typeof p !== 'string' || !options.projects.includes(p));
  server.fallback = (request) => {
    const token = /^Bearer (.+)$/.exec(String(request.headers.authorization ?? ''))?.[1] ?? '';
    if (!options.tokens.includes(token) && !(options.readOnlyTokens ?? []).includes(token))
      return detail(401, 'Invalid token');
    if (request.method !== 'POST' || !request.path.startsWith(prefix)) return NOT_FOUND;
    if (!options.tokens.includes(token))
      return detail(403, 'You do not have permission to perform this action.');
    let body: Record<string, unknown>;
    try {
      body = request.json();
    } catch {
      return detail(400, 'Malformed request');
    }
    const rest = request.path.slice(prefix.length);
    if (rest === '') return createRelease(body);
    const match = /^([^/]+)\/deploys\/$/.exec(rest);
    if (!match) return NOT_FOUND;
    const release = releases.get(decodeURIComponent(match[1] as string));
    if (!release) return NOT_FOUND;
    const environment = body.environment;
    if (typeof environment !== 'string' || environment === '')
      return { status: 400, body: { environment: ['This field is required.'] } };
    if (environment.length > 64 || /[/\n\r\t]/.test(environment))
      return { status: 400, body: { environment: ['Invalid environment name'] } };
    const projects = (body.projects as string[] | undefined) ?? release.projects;
    if (unknownProjects(projects) || projects.some((p) => !release.projects.includes(p)))
      return { status: 400, body: { projects: ['Invalid projects'] } };
    const deploy: FakeDeploy = {
      id: String(nextDeploy++),
      environment,
      dateFinished: typeof body.dateFinished === 'string' ? body.dateFinished : new Date().toISOString(),
      projects,
      ...(typeof body.name === 'string' ? { name: body.name } : {}),
      ...(typeof body.url === 'string' ? { url: body.url } : {}),
      ...(typeof body.dateStarted === 'string' ? { dateStarted: body.dateStarted } : {}),
    };
    release.deploys.push(deploy);
    return { status: 201, body: { name: null, url: null, dateStarted: null, ...deploy } };
  };
  const createRelease = (body: Record<string, unknown>): ScriptedAnswer => {
    const version = body.version;
    if (typeof version !== 'string' || version === '')
      return { status: 400, body: { version: ['This field is required.'] } };
    if (version.length > 200 || ['.', '..', 'latest'].includes(version) || /[/\\\n\r\t\f]/.test(version))
      return { status: 400, body: { version: ['Release with name ' + version + ' is not allowed'] } };
    if (unknownProjects(body.projects))
      return { status: 400, body: { projects: ['Invalid project ids or slugs'] } };
    const commits = body.commits;
    if (commits !== undefined && !(Array.isArray(commits) && commits.every((c) => typeof c?.id === 'string')))
      return { status: 400, body: { commits: ['Each commit needs an id'] } };
    const existing = releases.get(version);
    const projects = body.projects as string[];
    if (existing) {
      const added = projects.filter((p) => !existing.projects.includes(p));
      existing.projects.push(...added);
      return { status: added.length > 0 ? 201 : 208, body: { version, projects: existing.projects } };
    }
    releases.set(version, {
      version,
      projects: [...projects],
      commits: (commits as FakeRelease['commits'] | undefined) ?? [],
      deploys: [],
      ...(typeof body.url === 'string' ? { url: body.url } : {}),
      ...(typeof body.dateReleased === 'string' ? { dateReleased: body.dateReleased } : {}),
    });
    return {
      status: 201,
      body: { version, projects, commitCount: Array.isArray(commits) ? commits.length : 0 },
    };
  };
  return { url: server.url, requests: server.requests, releases, script: server.script, stop: server.stop };
}
