import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Context, Handler } from 'hono';
import { cleanText } from '../chat/sanitize.ts';
import { STOP_ACTION_IDS } from '../chat/slack-blocks.ts';
import { InvalidInputError } from '../errors.ts';
import { HttpClient } from '../http-client.ts';
import { type OperatorRequest, recordOperatorEvent, stopDeployment } from '../operator-actions.ts';
import { SHIPCAST_DEPLOYMENT_ID } from '../sources/native.ts';
import { sourceSecret } from '../sources/webhook-signature.ts';
import type { SlackConfig } from '../targets/slack.schema.ts';
import type { RouteContext } from './context.ts';
import { decodeUtf8, mediaType, parseJsonBody } from './json.ts';

/** Slack's replay window: a request whose timestamp is further than this from now is refused. */
export const SLACK_MAX_AGE_SECONDS = 300;

/** How long a user group's members are trusted (usergroups.users.list is Tier 2: about 20 calls a minute). */
const GROUP_CACHE_MS = 60_000;

/** Slack's calls while the click waits (user groups, response URL): Slack gives the whole answer 3 s. */
const SLACK_CALL_TIMEOUT_MS = 2000;

/** Slack's own host for response URLs (`https://hooks.slack.com/actions/T…/…`). */
const SLACK_HOOKS_ORIGIN = 'https://hooks.slack.com';

type Interactive = { name: string; config: SlackConfig & { actions: NonNullable<SlackConfig['actions']> } };

/** The Slack targets with buttons. */
export function interactiveSlackTargets(config: RouteContext['config']): Interactive[] {
  return Object.entries(config.targets)
    .filter(([, target]) => target.type === 'slack' && (target as SlackConfig).actions)
    .map(([name, target]) => ({ name, config: target as Interactive['config'] }));
}

/** Is `header` Slack's `v0=` signature of `v0:<timestamp>:<body>` under `secret`? Compared in constant time. */
export function slackSignatureValid(
  header: string | undefined,
  timestamp: string,
  body: Uint8Array,
  secret: string,
): boolean {
  const match = /^v0=([0-9a-f]{64})$/.exec(header ?? '');
  if (!match) return false;
  const presented = Buffer.from(match[1] as string, 'hex');
  const expected = createHmac('sha256', secret).update(`v0:${timestamp}:`).update(body).digest();
  return presented.length === expected.length && timingSafeEqual(presented, expected);
}

/**
 * `POST /v1/hooks/slack/interactions`: the Slack app's Interactivity request URL, where the "Stop" and
 * "Stop and roll back" buttons of a living message post their clicks.
 *
 * Slack's contract (docs.slack.dev/authentication/verifying-requests-from-slack, docs.slack.dev/interactivity/
 * handling-user-interaction, docs.slack.dev/reference/interaction-payloads/block_actions-payload): a form-encoded
 * body `payload=<JSON>`; `X-Slack-Signature: v0=<hex HMAC-SHA256 of "v0:<X-Slack-Request-Timestamp>:<raw body>">`
 * under the app's signing secret; an answer within 3 seconds (any 200 acknowledges); messages to the clicking
 * user go to the payload's `response_url` (`response_type: "ephemeral"`).
 *
 * Mounted by api/optional-routes.ts. Order: configured (404) → timestamp within 5 minutes (401: a replay) → signature (401) → payload (400) →
 * allowlist (ephemeral "not allowed", history event, no CodeDeploy call) → stop.
 */
export function slackInteractions(context: RouteContext): Handler {
  const http = context.http ?? new HttpClient();
  const groups = new Map<string, { users: Set<string>; until: number }>();

  const handler: Handler = async (c) => {
    const targets = interactiveSlackTargets(context.config);
    if (targets.length === 0) {
      return c.json(
        { error: 'not_found', message: 'no Slack target has actions configured (docs/targets/slack.md)' },
        404,
      );
    }
    const raw = new Uint8Array(await c.req.arrayBuffer());
    const timestamp = c.req.header('x-slack-request-timestamp') ?? '';
    if (!/^\d{1,12}$/.test(timestamp))
      return refuse(c, 'X-Slack-Request-Timestamp is missing or not a number');
    const age = Math.abs(context.clock.now().getTime() / 1000 - Number(timestamp));
    if (age > SLACK_MAX_AGE_SECONDS) {
      context.logger.warn('Slack interaction refused: timestamp outside the 5-minute window', {
        ageSeconds: Math.round(age),
      });
      return refuse(c, 'X-Slack-Request-Timestamp is more than 5 minutes from now (a replayed request?)');
    }
    const signature = c.req.header('x-slack-signature');
    const verified = new Set<string>();
    for (const secretName of new Set(targets.map((t) => t.config.actions.signingSecret))) {
      const secret = await sourceSecret(context, secretName);
      if (slackSignatureValid(signature, timestamp, raw, secret)) {
        for (const t of targets) if (t.config.actions.signingSecret === secretName) verified.add(t.name);
      }
    }
    if (verified.size === 0) {
      context.logger.warn('Slack interaction refused: signature does not verify');
      return refuse(c, 'X-Slack-Signature does not verify with the signing secret of any Slack target');
    }

    const payload = parsePayload(raw, c.req.header('content-type'));
    if (payload.type !== 'block_actions') return c.body(null, 200);
    const actions = Array.isArray(payload.actions) ? (payload.actions as Record<string, unknown>[]) : [];
    const clicked = actions.find((a) => Object.values(STOP_ACTION_IDS).includes(a.action_id as never));
    if (!clicked) return c.body(null, 200);
    const action = clicked.action_id === STOP_ACTION_IDS.stop ? 'stop' : 'stop-and-rollback';
    const [targetName, deploymentId] = String(clicked.value ?? '').split(' ');
    const user = (payload.user ?? {}) as Record<string, unknown>;
    const userId = typeof user.id === 'string' && /^[UW][A-Z0-9]{2,20}$/.test(user.id) ? user.id : '';
    const responseUrl = typeof payload.response_url === 'string' ? payload.response_url : undefined;
    const target = targets.find((t) => t.name === targetName && verified.has(t.name));
    const tell = (text: string) => (target ? ephemeral(target, responseUrl, text) : Promise.resolve());
    if (!target || !deploymentId || !SHIPCAST_DEPLOYMENT_ID.test(deploymentId) || !userId) {
      context.logger.warn(
        'Slack interaction ignored: the button names no deployment of a target of this app',
        {
          target: targetName,
        },
      );
      return c.body(null, 200);
    }
    const request: OperatorRequest = {
      deploymentId,
      action,
      via: 'slack',
      actor: cleanText(String(user.username ?? user.name ?? userId), 100) || userId,
      actorId: userId,
      requestId: `${userId}:${String(clicked.action_ts ?? payload.trigger_id ?? timestamp)}`,
    };

    const permission = await mayStop(target, userId);
    if (!permission.allowed) {
      const deployment = await context.store.getDeployment(deploymentId);
      if (deployment) {
        await recordOperatorEvent(
          deployment,
          request,
          { outcome: 'refused', detail: permission.reason },
          context,
        );
      }
      context.logger.info('Slack stop refused: user not allowed', {
        deploymentId,
        userId,
        target: target.name,
      });
      await tell(
        `You are not allowed to stop deployments from Slack (${permission.reason}). Nothing was done.`,
      );
      return c.body(null, 200);
    }

    const answer = await stopDeployment(request, context);
    const what = action === 'stop' ? 'Stop' : 'Stop and roll back';
    if (answer.kind === 'requested') await tell(`${what} requested. ${answer.message}.`);
    else await tell(`${what} not done: ${answer.message}.`);
    return c.body(null, 200);
  };

  /** Whether the user may stop: listed, or a member of a listed user group (fails closed when Slack cannot say). */
  async function mayStop(
    target: Interactive,
    userId: string,
  ): Promise<{ allowed: true } | { allowed: false; reason: string }> {
    const { allowedUsers, allowedUserGroups } = target.config.actions.stop;
    if (allowedUsers.includes(userId)) return { allowed: true };
    const problems: string[] = [];
    for (const group of allowedUserGroups) {
      try {
        if ((await groupMembers(target, group)).has(userId)) return { allowed: true };
      } catch (error) {
        problems.push(`user group ${group} could not be read: ${(error as Error).message}`);
        context.logger.warn('Slack user group members could not be read', {
          group,
          error: (error as Error).message,
        });
      }
    }
    return {
      allowed: false,
      reason: problems.length > 0 ? problems.join('; ') : 'not in the allowed users or user groups',
    };
  }

  /** Members of a user group, by usergroups.users.list (docs.slack.dev/reference/methods/usergroups.users.list). */
  async function groupMembers(target: Interactive, group: string): Promise<Set<string>> {
    const key = `${target.name}/${group}`;
    const now = context.clock.now().getTime();
    const cached = groups.get(key);
    if (cached && cached.until > now) return cached.users;
    const token = await context.secrets.get(target.config.token as string);
    const base = target.config.baseUrl.replace(/\/+$/, '');
    const response = await http.send({
      method: 'GET',
      url: `${base}/usergroups.users.list?usergroup=${encodeURIComponent(group)}`,
      headers: { authorization: `Bearer ${token}` },
      timeoutMs: target.config.timeoutMs ?? SLACK_CALL_TIMEOUT_MS,
    });
    const answer = response.json<{ ok?: boolean; error?: string; users?: unknown }>();
    if (!answer?.ok || !Array.isArray(answer.users)) {
      // ok:false with `no_such_subteam`, `missing_scope` (the bot token lacks usergroups:read), `invalid_auth`, …
      throw new Error(`Slack answered ${answer?.error ?? 'no users'}`);
    }
    const users = new Set(answer.users.filter((u): u is string => typeof u === 'string'));
    groups.set(key, { users, until: now + GROUP_CACHE_MS });
    return users;
  }

  /** Tells the clicking user, and only them, through the payload's response_url; never fails the click. */
  async function ephemeral(
    target: Interactive,
    responseUrl: string | undefined,
    text: string,
  ): Promise<void> {
    if (!responseUrl || !allowedResponseUrl(responseUrl, target.config.baseUrl)) {
      context.logger.warn('Slack response_url missing or not on Slack; the user is not told', {
        target: target.name,
      });
      return;
    }
    try {
      await http.send({
        method: 'POST',
        url: responseUrl,
        headers: { 'content-type': 'application/json; charset=utf-8' },
        body: { response_type: 'ephemeral', replace_original: false, text },
        timeoutMs: target.config.timeoutMs ?? SLACK_CALL_TIMEOUT_MS,
      });
    } catch (error) {
      context.logger.warn('Slack response_url refused the ephemeral message', {
        error: (error as Error).message,
      });
    }
  }

  return handler;
}

/** A response URL on Slack's hooks host, or on the target's own Web API host (a stand-in, a proxy). */
function allowedResponseUrl(url: string, baseUrl: string): boolean {
  try {
    const origin = new URL(url).origin;
    return origin === SLACK_HOOKS_ORIGIN || origin === new URL(baseUrl).origin;
  } catch {
    return false;
  }
}

/** The `payload` form field, parsed as untrusted JSON (an InvalidInputError, 400, naming the problem otherwise). */
function parsePayload(raw: Uint8Array, contentType: string | undefined): Record<string, unknown> {
  const text = decodeUtf8(raw);
  const payload =
    mediaType(contentType) === 'application/x-www-form-urlencoded'
      ? new URLSearchParams(text).get('payload')
      : null;
  if (!payload) {
    throw new InvalidInputError('request body', [
      {
        path: 'payload',
        message:
          'expected a form-encoded body (application/x-www-form-urlencoded) with a payload field, as Slack sends',
      },
    ]);
  }
  const parsed = parseJsonBody(payload, 'payload');
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new InvalidInputError('payload', [{ path: '', message: 'must be a JSON object' }]);
  }
  return parsed as Record<string, unknown>;
}

function refuse(c: Context, message: string) {
  return c.json({ error: 'unauthorized', message }, 401);
}
