/**
 * SQS's limit on how long a received message can be held back, shared by the dispatcher's retries and the
 * circuit breaker's waits.
 */

/** SQS's longest visibility timeout, counted from the receive: no wait may end later than this after it. */
export const MAX_VISIBILITY_SECONDS = 43_200;
/**
 * Kept off SQS's limit: the gap between SQS's receive and the handler's start (Lambda's batching window, up
 * to 300 s when set), clocks that disagree a little, and the settle call itself.
 */
export const VISIBILITY_MARGIN_SECONDS = 600;

/**
 * A wait the queue accepts: SQS refuses a visibility change that would end more than 12 hours after the
 * message was received ("If you attempt to set VisibilityTimeout to an amount more than the maximum time
 * left, Amazon SQS returns an error", ChangeMessageVisibility, SQS API reference). The wait is cut to what
 * is left of them, less a margin; never below 0 (the message comes back at once and is received afresh).
 */
export function queueableWait(seconds: number, receivedAtMs: number, nowMs: number): number {
  const endsBy = receivedAtMs + (MAX_VISIBILITY_SECONDS - VISIBILITY_MARGIN_SECONDS) * 1000;
  const left = Math.floor((endsBy - Math.max(nowMs, receivedAtMs)) / 1000);
  return Math.max(0, Math.min(seconds, left));
}

/**
 * When SQS handed a Lambda record out this time, as near as the record tells: its first receive when this is
 * the first (ApproximateFirstReceiveTimestamp), else the handler's start (a record does not carry the time
 * of a later receive; SQS received it a little before the handler started, which the margin covers).
 */
export function receivedAtOf(
  attributes: { ApproximateReceiveCount?: string; ApproximateFirstReceiveTimestamp?: string } | undefined,
  handlerStartedAt: number,
): number {
  const first = Number(attributes?.ApproximateFirstReceiveTimestamp);
  const firstReceive = Number(attributes?.ApproximateReceiveCount ?? 1) <= 1;
  return firstReceive && Number.isFinite(first) && first > 0
    ? Math.min(first, handlerStartedAt)
    : handlerStartedAt;
}
