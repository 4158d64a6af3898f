import { plainTextMessage } from '../chat/plain-text.ts';
import { cut } from '../chat/sanitize.ts';
import { chooseTemplates } from '../chat/slack-blocks.ts';
import { chatView } from '../chat/view.ts';
import { PermanentDeliveryError, RetryableDeliveryError } from '../errors.ts';
import { answerOf, type HttpResponse, jsonOrUndefined } from '../http-client.ts';
import type { Status } from '../status.ts';
import { maskSecrets } from '../telemetry.ts';
import type { PushoverConfig } from './pushover.schema.ts';
import { defineTarget, type TargetContext } from './target.ts';

/**
 * Limits of one message (pushover.net/api, "Limitations"): title 250 characters, message 1024, supplementary
 * URL 512 and its title 100.
 */
export const PUSHOVER_LIMITS = { title: 250, message: 1024, url: 512, urlTitle: 100 } as const;

/**
 * Priority per status when the config names none: a deployment starting is quiet (-1: no sound or vibration),
 * a success is normal (0), a failure high (1: bypasses quiet hours), a stop normal. Buildbot's default is 0 for
 * everything not mapped.
 */
export const PUSHOVER_DEFAULT_PRIORITIES: Record<Status, number> = {
  queued: -1,
  in_progress: -1,
  succeeded: 0,
  failed: 1,
  stopped: 0,
};

/** What the Messages API answers (pushover.net/api, "Response"): `status` 1, or another value with `errors`. */
interface PushoverAnswer {
  status?: number;
  request?: string;
  errors?: unknown;
}

type Context = TargetContext<PushoverConfig>;

/**
 * Pushover: one push notification per transition (`POST /1/messages.json`), its priority chosen by the status
 * the deployment moved to. Pushover cannot update a notification, so each transition is its own.
 */
export const pushoverTarget = defineTarget<PushoverConfig>({
  type: 'pushover',
  secretNames: (config) => [config.token, config.user],
  async send({ deployment, transition }, context) {
    const { config } = context;
    const [token, user] = await Promise.all([
      context.secrets.get(config.token),
      context.secrets.get(config.user),
    ]);
    const form = pushoverForm(chatView(deployment, transition), config, context.message);
    form.set('token', token);
    form.set('user', user);
    form.set('timestamp', String(Math.floor(Date.parse(transition.at) / 1000)));
    let response: HttpResponse;
    try {
      response = await context.http.send({
        method: 'POST',
        url: `${config.baseUrl.replace(/\/+$/, '')}/1/messages.json`,
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: form.toString(),
        timeoutMs: config.timeoutMs,
      });
    } catch (error) {
      throw explain(error, context);
    }
    const answer = jsonOrUndefined(response.text) as PushoverAnswer | undefined;
    if (answer?.status !== 1) {
      throw new PermanentDeliveryError(`Pushover did not accept the message: ${reasons(answer)}`);
    }
    warnWhenLimitIsNear(response.headers, context);
    return {};
  },
});

/** The message's fields (all but the credentials and the timestamp), within Pushover's limits. */
export function pushoverForm(
  view: ReturnType<typeof chatView>,
  config: PushoverConfig,
  routeTemplates?: { title?: string; text?: string },
): URLSearchParams {
  const { title, body } = plainTextMessage(view, chooseTemplates(routeTemplates, config.message));
  const priority = config.priorities[view.status] ?? PUSHOVER_DEFAULT_PRIORITIES[view.status];
  const form = new URLSearchParams({
    title: cut(title, PUSHOVER_LIMITS.title),
    message: cut(body, PUSHOVER_LIMITS.message),
    priority: String(priority),
  });
  if (view.url && view.url.length <= PUSHOVER_LIMITS.url) {
    form.set('url', view.url);
    form.set('url_title', 'Open deployment');
  }
  if (priority === 2) {
    form.set('retry', String(config.emergency.retry));
    form.set('expire', String(config.emergency.expire));
  }
  if (config.device) form.set('device', config.device);
  if (config.sound) form.set('sound', config.sound);
  return form;
}

/**
 * Pushover's verdicts (pushover.net/api, "Response" and "Limitations"): a 4xx is never to be retried as it is
 * (the body's `errors` say why); a 429 means the application used up its monthly messages, until
 * `X-Limit-App-Reset` (epoch seconds); a 5xx or no answer may be retried, at most every 5 seconds.
 */
function explain(error: unknown, context: Context): unknown {
  const http = answerOf(error);
  if (!http) return error;
  const answer = http.json<PushoverAnswer>();
  if (http.status === 429) {
    const reset = Number(http.headers.get('x-limit-app-reset'));
    const now = context.clock.now().getTime() / 1000;
    const wait = Number.isFinite(reset) && reset > now ? Math.ceil(reset - now) : 3600;
    return new RetryableDeliveryError(
      `Pushover refused the message (429): the application's monthly message limit is used up` +
        ` (X-Limit-App-Remaining: ${http.headers.get('x-limit-app-remaining') ?? 'not given'}); ${reasons(answer)}; retrying in ${wait}s`,
      wait,
      { cause: error },
    );
  }
  if (http.status >= 400 && http.status < 500) {
    // A rotated token or key is picked up by the next delivery.
    context.secrets.invalidate(context.config.token);
    context.secrets.invalidate(context.config.user);
    return new PermanentDeliveryError(`Pushover refused the message (${http.status}): ${reasons(answer)}`, {
      cause: error,
    });
  }
  return error;
}

function warnWhenLimitIsNear(headers: Headers, context: Context): void {
  const limit = Number(headers.get('x-limit-app-limit'));
  const remaining = Number(headers.get('x-limit-app-remaining'));
  if (!Number.isFinite(limit) || !Number.isFinite(remaining) || limit <= 0) return;
  if (remaining <= limit * 0.05) {
    const reset = Number(headers.get('x-limit-app-reset'));
    context.logger.warn("Pushover: the application's monthly messages are nearly used up", {
      limit,
      remaining,
      resetsAt: Number.isFinite(reset) && reset > 0 ? new Date(reset * 1000).toISOString() : undefined,
    });
  }
}

function reasons(answer: PushoverAnswer | undefined): string {
  const errors = Array.isArray(answer?.errors) ? answer.errors.filter((e) => typeof e === 'string') : [];
  const text = errors.length > 0 ? errors.join('; ') : 'no reason given';
  return maskSecrets(cut(text.replace(/\s+/g, ' '), 300));
}
