import { chooseTemplates, type SlackMessage, slackDetails, slackMessage } from '../chat/slack-blocks.ts';
import { chatView } from '../chat/view.ts';
import { PermanentDeliveryError, RetryableDeliveryError } from '../errors.ts';
import { redactUrl, retryAfterSeconds } from '../http-client.ts';
import type { SlackConfig } from './slack.schema.ts';
import { inferSlackMode } from './slack-mode.ts';
import { defineTarget, type Notification, type SendResult, type TargetContext } from './target.ts';

// Where they are defined the config schema can import them (it must not import this file).
export { inferSlackMode, SLACK_DEFAULT_BASE_URL } from './slack-mode.ts';

type Context = TargetContext<SlackConfig>;

/**
 * Slack. Bot mode keeps one living message per deployment: chat.postMessage on the first transition (its
 * channel ID + ts kept in refs), chat.update for every later one, and once a thread reply with the error of a
 * failed deployment. Webhook mode posts a message per transition (incoming webhooks cannot update).
 */
export const slackTarget = defineTarget<SlackConfig>({
  type: 'slack',
  secretNames: (config) => [config.token, config.webhookUrl].filter((s): s is string => Boolean(s)),
  async send(notification, context) {
    const mode = context.config.mode ?? inferSlackMode(context.config);
    return mode === 'webhook' ? sendWebhook(notification, context) : sendBot(notification, context);
  },
});

/** Slack's Web API errors worth retrying (`ok: false` with these codes); every other code is permanent. */
const RETRYABLE_CODES = new Set([
  'ratelimited',
  'rate_limited',
  'internal_error',
  'fatal_error',
  'service_unavailable',
  'request_timeout',
  'team_added_to_org',
]);
/** Codes meaning the token is bad: the cached secret is dropped so a rotated one is read next time. */
const AUTH_CODES = new Set([
  'invalid_auth',
  'not_authed',
  'token_revoked',
  'token_expired',
  'account_inactive',
]);

// ---------------------------------------------------------------------------------------------------
// Bot token: one living message

async function sendBot(
  { deployment, transition, delivery }: Notification,
  context: Context,
): Promise<SendResult> {
  const { config } = context;
  const view = chatView(deployment, transition);
  const stopRequest = deployment.stopRequest;
  const operator = {
    stopButtons: config.actions && deployment.source === 'codedeploy' ? { target: context.name } : undefined,
    stopRequest,
  };
  const message = slackMessage(view, chooseTemplates(context.message, config.message), operator);
  const refs: Record<string, string> = {};
  let channel = delivery?.refs?.channel;
  let ts = delivery?.refs?.ts;
  const seq = String(transition.seq);
  const stop = stopRequest?.at ?? '';

  // An earlier attempt at this transition may have brought the message up to date already and then failed
  // (or had to wait) on the thread reply: the retry goes on from there instead of repeating the chat.update.
  // A stop asked for since (a refresh of the same transition) changes the message: it is updated again.
  const shown = delivery?.refs?.shownSeq === seq && (delivery?.refs?.shownStop ?? '') === stop;
  if (channel && ts && shown) {
    context.logger.debug('the Slack message already shows this transition', { channel, ts });
  } else if (channel && ts) {
    try {
      await callSlack(context, 'chat.update', { channel, ts, ...content(message) });
    } catch (error) {
      if (slackCode(error) !== 'message_not_found') throw error;
      // The message was deleted: post a new one (once: its id replaces the old one).
      context.logger.warn('Slack message to update is gone; posting a new one', { channel, ts });
      ({ channel, ts } = await post(context, message));
      refs.channel = channel;
      refs.ts = ts;
    }
  } else {
    ({ channel, ts } = await post(context, message));
    refs.channel = channel;
    refs.ts = ts;
  }
  refs.shownSeq = seq;
  if (stop) refs.shownStop = stop;

  const details =
    config.threadDetails && view.finished && !delivery?.refs?.detailsTs ? slackDetails(view) : undefined;
  if (details) {
    try {
      await take(context, `slack:${config.channel}`);
      const reply = await callSlack(context, 'chat.postMessage', {
        channel,
        thread_ts: ts,
        ...content(details),
      });
      refs.detailsTs = String(reply.ts ?? ts);
    } catch (error) {
      if (error instanceof PermanentDeliveryError) {
        // The message itself is up to date; a reply Slack refuses is not worth failing the delivery for.
        context.logger.warn('Slack refused the thread reply with details; not retrying it', {
          error: error.message,
        });
        refs.detailsTs = 'refused';
        return { refs };
      }
      // Keep the message's id: a retry updates it instead of posting another.
      throw withRefs(error, refs);
    }
  }
  return { refs };
}

async function post(context: Context, message: SlackMessage): Promise<{ channel: string; ts: string }> {
  // Posting is limited to about one message a second per channel; chat.update is not (Tier 3, per method).
  await take(context, `slack:${context.config.channel}`);
  const answer = await callSlack(context, 'chat.postMessage', {
    channel: context.config.channel,
    ...content(message),
  });
  if (typeof answer.channel !== 'string' || typeof answer.ts !== 'string') {
    throw new PermanentDeliveryError('Slack chat.postMessage answered ok without channel and ts');
  }
  return { channel: answer.channel, ts: answer.ts };
}

/** The message plus the switches that keep Slack from parsing names, linking or fetching anything. */
function content(message: SlackMessage) {
  return {
    text: message.text,
    blocks: message.blocks,
    mrkdwn: false,
    parse: 'none',
    link_names: false,
    unfurl_links: false,
    unfurl_media: false,
  };
}

/** The Slack error code behind a delivery error (`channel_not_found`, …), if it came from an `ok: false` answer. */
function slackCode(error: unknown): string | undefined {
  const cause = (error as { cause?: unknown } | undefined)?.cause;
  return cause instanceof SlackApiError ? cause.code : undefined;
}

class SlackApiError extends Error {
  constructor(
    readonly method: string,
    readonly code: string,
  ) {
    super(`Slack ${method} failed: ${code}`);
  }
}

interface SlackAnswer {
  ok?: boolean;
  error?: string;
  channel?: string;
  ts?: string;
}

/** Calls a Web API method; a 200 with `ok: false` is a failure, permanent or retryable by its error code. */
async function callSlack(
  context: Context,
  method: string,
  body: Record<string, unknown>,
): Promise<SlackAnswer> {
  const { config, http, secrets, clock } = context;
  const token = await secrets.get(config.token as string);
  const url = `${config.baseUrl.replace(/\/+$/, '')}/${method}`;
  let answer: SlackAnswer | undefined;
  let headers: Headers;
  try {
    const response = await http.send({
      method: 'POST',
      url,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json; charset=utf-8' },
      body: JSON.stringify(body),
      timeoutMs: config.timeoutMs,
    });
    headers = response.headers;
    try {
      answer = response.json<SlackAnswer>();
    } catch {
      answer = undefined;
    }
  } catch (error) {
    if (/ answered 401\b/.test(error instanceof Error ? error.message : ''))
      secrets.invalidate(config.token as string);
    throw prefixed(error, `Slack ${method}`);
  }
  if (!answer || typeof answer !== 'object') {
    throw new RetryableDeliveryError(`Slack ${method} answered 200 without a JSON body`, undefined);
  }
  if (answer.ok === true) return answer;
  const code = typeof answer.error === 'string' && answer.error ? answer.error : 'unknown_error';
  if (AUTH_CODES.has(code)) secrets.invalidate(config.token as string);
  const failure = new SlackApiError(method, code);
  if (RETRYABLE_CODES.has(code)) {
    const wait = retryAfterSeconds(headers, clock.now().getTime());
    throw new RetryableDeliveryError(failure.message, wait ?? (code.includes('rate') ? 30 : undefined), {
      cause: failure,
    });
  }
  throw new PermanentDeliveryError(failure.message, { cause: failure });
}

// ---------------------------------------------------------------------------------------------------
// Incoming webhook: a message per transition

async function sendWebhook({ deployment, transition }: Notification, context: Context): Promise<SendResult> {
  const { config, http, secrets } = context;
  const name = config.webhookUrl as string;
  const url = await webhookUrl(context, name);
  const view = chatView(deployment, transition);
  const message = slackMessage(view, chooseTemplates(context.message, config.message));
  // Keyed by the secret's name: the URL itself never leaves the secret store.
  await take(context, `slack:webhook:${name}`);
  try {
    await http.send({
      method: 'POST',
      url,
      headers: { 'content-type': 'application/json; charset=utf-8' },
      body: JSON.stringify({
        text: message.text,
        blocks: message.blocks,
        mrkdwn: false,
        unfurl_links: false,
        unfurl_media: false,
      }),
      timeoutMs: config.timeoutMs,
    });
  } catch (error) {
    if (/ answered (403|404|410)\b/.test(error instanceof Error ? error.message : ''))
      secrets.invalidate(name);
    throw withoutUrl(error, url, 'Slack incoming webhook');
  }
  return {};
}

/** Reads the webhook URL; a value that is not an http(s) URL fails permanently without showing it. */
async function webhookUrl(context: Context, name: string): Promise<string> {
  const value = (await context.secrets.get(name)).trim();
  if (!/^https?:\/\/[^\s]+$/i.test(value)) {
    throw new PermanentDeliveryError(`the secret "${name}" does not hold an http(s) incoming webhook URL`);
  }
  return value;
}

// ---------------------------------------------------------------------------------------------------
// Shared

/** Slack allows about one message a second per channel (shared by all dispatchers). */
async function take(context: Context, key: string): Promise<void> {
  const wait = await context.limiter.take(key, 1, 1);
  if (wait > 0)
    throw new RetryableDeliveryError(
      `Slack accepts about one message a second per channel; waiting ${wait}s`,
      wait,
    );
}

/** The same kind of delivery error, its message starting with `what`. */
function prefixed(error: unknown, what: string): Error {
  const message = error instanceof Error ? error.message : String(error);
  if (error instanceof PermanentDeliveryError)
    return new PermanentDeliveryError(`${what}: ${message}`, { refs: error.refs });
  const wait = error instanceof RetryableDeliveryError ? error.retryAfterSeconds : undefined;
  return new RetryableDeliveryError(`${what}: ${message}`, wait, {
    refs: error instanceof RetryableDeliveryError ? error.refs : undefined,
  });
}

/** The error with the webhook URL (a credential) replaced by `what`, and no cause that could carry it. */
export function withoutUrl(error: unknown, url: string, what: string): Error {
  let message = error instanceof Error ? error.message : String(error);
  message = message.split(redactUrl(url)).join('').split(url).join('');
  message = `${what}${message
    .replace(/^POST\s*/, ' ')
    .replace(/\s+/g, ' ')
    .trimEnd()}`;
  if (error instanceof PermanentDeliveryError) return new PermanentDeliveryError(message);
  const wait = error instanceof RetryableDeliveryError ? error.retryAfterSeconds : undefined;
  return new RetryableDeliveryError(message, wait);
}

/** Attaches the refs learned so far to a delivery error (kept on the delivery even though the send failed). */
function withRefs(error: unknown, refs: Record<string, string>): Error {
  if (Object.keys(refs).length === 0) return error instanceof Error ? error : new Error(String(error));
  const message = error instanceof Error ? error.message : String(error);
  if (error instanceof PermanentDeliveryError)
    return new PermanentDeliveryError(message, { cause: error, refs });
  const wait = error instanceof RetryableDeliveryError ? error.retryAfterSeconds : undefined;
  return new RetryableDeliveryError(message, wait, { cause: error, refs });
}
