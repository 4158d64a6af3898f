import { type ChatView, chatView } from '../chat/view.ts';
import { PermanentDeliveryError, RetryableDeliveryError } from '../errors.ts';
import { answerOf, type HttpAnswer } from '../http-client.ts';
import type { SecretSource } from '../ports.ts';
import type { Deployment, Transition } from '../schema.ts';
import { maskSecrets } from '../telemetry.ts';

/** A link an on-call engineer follows from the incident or observability tool back to the change. */
export interface ChangeLink {
  href: string;
  text: string;
}

/**
 * What the incident and observability targets (PagerDuty, Datadog, Grafana, Sentry) say about one
 * transition: the cleaned facts of the chat view, a one-line summary and the deep links.
 */
export interface ChangeFacts {
  view: ChatView;
  /** `checkout 1.4.2 → production succeeded (by ana)`. */
  summary: string;
  links: ChangeLink[];
}

/** The facts of a deployment as of one of its transitions. */
export function changeFacts(deployment: Deployment, transition: Transition): ChangeFacts {
  const view = chatView(deployment, transition);
  const what = [view.service, view.version || view.commit?.short].filter(Boolean).join(' ');
  const by = view.actor ? ` (by ${view.actor})` : '';
  return {
    view,
    summary: `${what} → ${view.environment} ${view.statusText}${by}`,
    links: deepLinks(deployment, view),
  };
}

/**
 * The deployment's own link (a CI run, a pipeline), the deployed commit on GitHub and, for CodeDeploy,
 * the deployment in the AWS console. Only http(s) links, never fetched.
 */
export function deepLinks(deployment: Deployment, view: ChatView): ChangeLink[] {
  const links: ChangeLink[] = [];
  if (view.url) links.push({ href: view.url, text: `${view.source} deployment` });
  if (view.commit?.url) links.push({ href: view.commit.url, text: `Commit ${view.commit.short}` });
  const region = deployment.details?.region;
  const codeDeployId = deployment.details?.codeDeployId;
  if (
    deployment.source === 'codedeploy' &&
    region &&
    /^[a-z]{2}(-[a-z]+)+-\d$/.test(region) &&
    codeDeployId &&
    /^d-[A-Z0-9]{9}$/.test(codeDeployId)
  ) {
    links.push({
      href: `https://${region}.console.aws.amazon.com/codesuite/codedeploy/deployments/${codeDeployId}?region=${region}`,
      text: `CodeDeploy ${codeDeployId}`,
    });
  }
  return links;
}

/** Epoch milliseconds of an ISO time, or undefined when it is missing or unreadable. */
export function epochMs(iso: string | undefined): number | undefined {
  if (!iso) return undefined;
  const ms = Date.parse(iso);
  return Number.isNaN(ms) ? undefined : ms;
}

/** Drops the entries whose value is undefined or empty. */
export function defined<T>(values: Record<string, T | undefined>): Record<string, T> {
  return Object.fromEntries(
    Object.entries(values).filter((entry): entry is [string, T] => entry[1] !== undefined && entry[1] !== ''),
  );
}

/** How a vendor's error answer is read: its own message, and the wait its rate-limit headers ask for. */
export interface VendorErrors {
  /** The vendor's own words from an error body (masked already), if it has any. */
  message(answer: HttpAnswer): string | undefined;
  /** Seconds to wait read from the vendor's own headers; replaces what the HTTP client read, when set. */
  retryAfter?(answer: HttpAnswer, nowMs: number): number | undefined;
}

/** The vendor's answer behind an error `vendorCall` threw (or the HTTP client did), if the vendor answered. */
export function vendorAnswer(error: unknown): HttpAnswer | undefined {
  return answerOf(error) ?? answerOf((error as { cause?: unknown } | undefined)?.cause);
}

/** What `vendorCall` needs besides the call. */
export interface VendorCallOptions {
  errors: VendorErrors;
  secrets: SecretSource;
  /** The secrets the call used: read afresh after a 401 or 403 (a rotated key). */
  secretNames: string[];
  /** Target ids learned so far in this send: kept on the delivery even when the call fails. */
  refs?: Record<string, string>;
  /** Now, by the target's clock (for rate-limit resets given as times). */
  nowMs: number;
}

/**
 * Runs one vendor call; an error it throws is thrown again as the same kind of delivery error, saying
 * `<what> answered <status>: <vendor's message>`, with the refs learned so far. Never carries a secret:
 * messages are masked.
 */
export async function vendorCall<T>(
  what: string,
  call: () => Promise<T>,
  options: VendorCallOptions,
): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw vendorError(what, error, options);
  }
}

function vendorError(what: string, error: unknown, options: VendorCallOptions): Error {
  const refs = options.refs && Object.keys(options.refs).length > 0 ? { ...options.refs } : undefined;
  const answer = answerOf(error);
  const original = error instanceof Error ? error.message : String(error);
  if (answer && (answer.status === 401 || answer.status === 403)) {
    for (const name of options.secretNames) options.secrets.invalidate(name);
  }
  const said = answer ? options.errors.message(answer) : undefined;
  const text = maskSecrets(
    answer ? `${what} answered ${answer.status}: ${said || original}` : `${what} failed: ${original}`,
  );
  if (error instanceof PermanentDeliveryError)
    return new PermanentDeliveryError(text, { cause: error, refs });
  const asked = answer ? options.errors.retryAfter?.(answer, options.nowMs) : undefined;
  const retryAfter = asked ?? (error instanceof RetryableDeliveryError ? error.retryAfterSeconds : undefined);
  return new RetryableDeliveryError(text, retryAfter, { cause: error, refs });
}
