import { cut } from '../chat/sanitize.ts';
import { PermanentDeliveryError } from '../errors.ts';
import type { HttpAnswer } from '../http-client.ts';
import type { Deployment } from '../schema.ts';
import { changeFacts, type VendorErrors, vendorAnswer, vendorCall } from './change-event.ts';
import { renderTemplate } from './github.ts';
import type { SentryConfig } from './sentry.schema.ts';
import { defineTarget, type Notification, type TargetContext } from './target.ts';

type Context = TargetContext<SentryConfig>;

/**
 * Sentry: when a deployment succeeds, a deploy of its release to its environment, so Sentry shows which
 * release is live where, marks issues "resolved in next release" and links new issues to the deploy.
 *
 * `POST /api/0/organizations/{org}/releases/{version}/deploys/` {environment, name, url, dateStarted,
 * dateFinished, projects} → 201 (docs.sentry.io/api/releases/create-a-deploy). A release that does not exist
 * answers 404; it is then created with `POST /api/0/organizations/{org}/releases/` {version, projects,
 * commits: [{id, repository}], url, dateReleased} → 201, or 208 when it already existed (creation is
 * idempotent by version: getsentry/sentry src/sentry/api/endpoints/organization_releases.py) and the deploy
 * is sent again. A release that exists is left as it is (its commits may come from sentry-cli). `refs` need a
 * user token and a repository integration, so the commit goes in `commits`. Versions: at most 200
 * characters, no `/`, newlines or tabs, not `.`, `..` or `latest`. Errors: `{"detail": …}` or
 * `{"<field>": ["…"]}`. Rate limits (docs.sentry.io/api/ratelimits): 429, `X-Sentry-Rate-Limit-Remaining`
 * and `-Reset` (epoch seconds). Auth: `Authorization: Bearer <token>`.
 *
 * Deploys cannot be updated and have no outcome, so only a success is one; the deploy id is kept in the
 * delivery's refs and a deploy is sent once per deployment.
 */
export const sentryTarget = defineTarget<SentryConfig>({
  type: 'sentry',
  secretNames: (config) => [config.token],
  async send(notification, context) {
    const { deployment, transition, delivery } = notification;
    if (transition.to !== 'succeeded') {
      context.logger.debug('Sentry: a deploy is recorded when the deployment succeeds', {
        to: transition.to,
      });
      return {};
    }
    if (delivery?.refs?.deployId || delivery?.refs?.deployed) {
      context.logger.info('Sentry: this deployment’s deploy was already created', {
        deployId: delivery.refs.deployId,
      });
      return {};
    }
    const version = releaseVersion(deployment, context.config);
    if (!version) {
      context.logger.info(
        'no Sentry deploy: the deployment has no version and no commit to name its release',
        {
          target: context.name,
          deploymentId: deployment.id,
        },
      );
      return {};
    }
    const environment = environmentOf(deployment);
    if (!environment) {
      context.logger.info('no Sentry deploy: the deployment names no environment', {
        target: context.name,
        deploymentId: deployment.id,
      });
      return {};
    }
    const deploy = deployBody(notification, environment, context.config);
    let created: { id?: unknown } | undefined;
    try {
      created = await createDeploy(version, deploy, context);
    } catch (error) {
      if (vendorAnswer(error)?.status !== 404) throw error;
      await call(
        context,
        `create Sentry release ${version}`,
        '/releases/',
        releaseBody(version, notification, context.config),
      );
      created = await createDeploy(version, deploy, context);
    }
    const deployId =
      created && (typeof created.id === 'string' || typeof created.id === 'number') ? String(created.id) : '';
    return {
      refs: { release: version, ...(deployId ? { deployId } : { deployed: String(transition.seq) }) },
    };
  },
});

/** The release version the template names, or undefined when the deployment gives it nothing to use. */
export function releaseVersion(
  deployment: Deployment,
  config: Pick<SentryConfig, 'release'>,
): string | undefined {
  const commit = deployment.revision?.commit?.trim() ?? '';
  const version = deployment.version?.trim() || commit;
  const values: Record<string, string> = {
    version,
    commit,
    'commit.short': /^[0-9a-f]{8,}$/i.test(commit) ? commit.slice(0, 7) : commit,
    service: deployment.service?.trim() ?? '',
    environment: deployment.environment?.trim() ?? '',
  };
  const used = [...config.release.matchAll(/\{\{([^{}]*)\}\}/g)].map((m) => (m[1] ?? '').trim());
  if (used.some((name) => !values[name])) return undefined;
  const rendered = renderTemplate(config.release, values).trim();
  const problem = versionProblem(rendered);
  if (problem) {
    throw new PermanentDeliveryError(
      `the Sentry release "${cut(rendered, 80)}" (from the template "${config.release}") ${problem}: change the release template or the deployment's version`,
    );
  }
  return rendered;
}

function versionProblem(version: string): string | undefined {
  if (['', '.', '..', 'latest'].includes(version)) return 'is not a release name Sentry accepts';
  if ([...version].length > 200) return 'is longer than 200 characters';
  if (/[/\\\n\r\t\f]/.test(version)) return 'contains a slash, a backslash or a line break';
  return undefined;
}

/** Sentry environments: at most 64 characters, no slash or line break; empty when there is none. */
function environmentOf(deployment: Deployment): string {
  return cut((deployment.environment ?? '').replace(/[/\\\r\n\t\f]/g, '-').trim(), 64);
}

function deployBody({ deployment, transition }: Notification, environment: string, config: SentryConfig) {
  const { view } = changeFacts(deployment, transition);
  const started = deployment.startedAt ?? deployment.createdAt;
  const finished = deployment.finishedAt ?? transition.at;
  return {
    environment,
    name: cut(`${view.source} ${deployment.sourceDeploymentId}`, 64),
    ...(view.url && view.url.length <= 200 ? { url: view.url } : {}),
    dateStarted: started <= finished ? started : finished,
    dateFinished: finished,
    projects: config.projects,
  };
}

/** The release with its commit, when the deployment names a repository and a commit. */
function releaseBody(version: string, { deployment, transition }: Notification, config: SentryConfig) {
  const { view } = changeFacts(deployment, transition);
  const repository = repositoryName(view.repository);
  const commit = deployment.revision?.commit?.trim();
  return {
    version,
    projects: config.projects,
    ...(repository && commit && /^[0-9a-f]{7,64}$/i.test(commit)
      ? { commits: [{ id: commit, repository }] }
      : {}),
    ...(view.commit?.url
      ? { url: view.commit.url }
      : view.url && view.url.length <= 200
        ? { url: view.url }
        : {}),
    dateReleased: deployment.finishedAt ?? transition.at,
  };
}

/** `owner/name` of a repository given as `owner/name` or as an https URL; Sentry names repositories so. */
function repositoryName(repository: string | undefined): string | undefined {
  if (!repository) return undefined;
  const url = /^https?:\/\/[^/]+\/(.+?)(?:\.git)?\/?$/.exec(repository);
  const name = url ? url[1] : repository;
  return name && /^[A-Za-z0-9_.-]+(\/[A-Za-z0-9_.-]+)+$/.test(name) ? name : undefined;
}

async function createDeploy(
  version: string,
  body: unknown,
  context: Context,
): Promise<{ id?: unknown } | undefined> {
  const response = await call(
    context,
    `create the Sentry deploy of release ${version}`,
    `/releases/${encodeURIComponent(version)}/deploys/`,
    body,
  );
  return response.json<{ id?: unknown }>();
}

async function call(context: Context, what: string, path: string, body: unknown) {
  const { config, secrets, http, clock } = context;
  const token = await secrets.get(config.token);
  const base = `${config.url.replace(/\/+$/, '')}/api/0/organizations/${encodeURIComponent(config.organization)}`;
  return vendorCall(
    what,
    () =>
      http.send({
        method: 'POST',
        url: `${base}${path}`,
        headers: { authorization: `Bearer ${token}`, accept: 'application/json' },
        body,
        timeoutMs: config.timeoutMs,
      }),
    { errors: SENTRY_ERRORS, secrets, secretNames: [config.token], nowMs: clock.now().getTime() },
  );
}

/** `{"detail": "…"}`, or a serializer's `{"field": ["…"]}`; 429 without Retry-After: the window's reset. */
const SENTRY_ERRORS: VendorErrors = {
  message(answer: HttpAnswer) {
    const body = answer.json<Record<string, unknown>>();
    if (!body || typeof body !== 'object' || Array.isArray(body)) return undefined;
    if (typeof body.detail === 'string') return body.detail;
    const fields = Object.entries(body)
      .map(([field, value]) => {
        const words = Array.isArray(value)
          ? value.filter((v) => typeof v === 'string').join(' ')
          : typeof value === 'string'
            ? value
            : '';
        return words ? `${field}: ${words}` : '';
      })
      .filter(Boolean);
    return fields.join('; ') || undefined;
  },
  retryAfter(answer: HttpAnswer, nowMs: number) {
    if (answer.status !== 429 || answer.headers.get('retry-after')) return undefined;
    const reset = Number(answer.headers.get('x-sentry-rate-limit-reset'));
    return Number.isFinite(reset) && reset > 0 ? Math.max(1, Math.ceil(reset - nowMs / 1000)) : undefined;
  },
};
