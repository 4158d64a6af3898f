import { type CapturedRequest, type ScriptedAnswer, startTargetServer } from './target-server.ts';

/** A local stand-in for a Teams Workflows webhook ("When a Teams webhook request is received"). */
export interface TeamsServer {
  /** The workflow's trigger URL (what the secret holds); its `sig` is the credential. */
  webhookUrl: string;
  sig: string;
  requests: CapturedRequest[];
  /** The Adaptive Cards the workflow accepted (posted to the channel), in order. */
  cards: Record<string, unknown>[];
  /** Answers the next requests with these (nothing is posted), then behaves normally again. */
  script(...answers: ScriptedAnswer[]): void;
  stop(): Promise<void>;
}

const WORKFLOW = '5f0c2d9a8b7e4c1f9a3d6e2b8c4f7a10';
const SIG = 'q8Xv2LmN4pR7tY1wZ3aB5cD9eF0gH6jK8lM2nP4rS7u';
/** Teams' message size limit. */
const MAX_BYTES = 28 * 1024;

const failure = (status: number, code: string, message: string): ScriptedAnswer => ({
  status,
  body: { error: { code, message } },
});

/** Power Automate's throttling answer. */
export function teamsThrottled(retryAfter: number): ScriptedAnswer {
  return {
    status: 429,
    headers: { 'retry-after': String(retryAfter) },
    body: { error: { code: 'WorkflowTriggerIsThrottled', message: 'The workflow trigger is throttled.' } },
  };
}

/** Why the workflow's "Post card in a chat or channel" would refuse the body, or undefined. */
function invalidBody(body: Record<string, unknown>): string | undefined {
  if (body.type !== 'message') return 'the body is not a message';
  const attachments = body.attachments as Record<string, unknown>[] | undefined;
  const attachment = attachments?.[0];
  if (attachment?.contentType !== 'application/vnd.microsoft.card.adaptive')
    return 'attachments[0] is not an Adaptive Card';
  const card = attachment?.content as Record<string, unknown> | undefined;
  if (card?.type !== 'AdaptiveCard' || typeof card.version !== 'string' || !Array.isArray(card.body))
    return 'attachments[0].content is not an AdaptiveCard with a version and a body';
  for (const action of (card.actions ?? []) as Record<string, unknown>[]) {
    if (action.type === 'Action.OpenUrl' && !/^https?:\/\//.test(String(action.url)))
      return 'Action.OpenUrl needs an http(s) url';
  }
  return undefined;
}

/**
 * Starts a fake Workflows trigger on 127.0.0.1 that answers like Power Automate: 202 Accepted with an empty
 * body; 401 for a wrong `sig`; 404 for an unknown workflow; 413 over 28 KB; 400 for a body the "post card"
 * step cannot use. Errors are `{"error":{"code","message"}}`.
 */
export async function startTeamsServer(): Promise<TeamsServer> {
  const server = await startTargetServer();
  const cards: Record<string, unknown>[] = [];
  server.fallback = (request) => {
    const url = new URL(request.path, 'http://teams.test');
    const match = /^\/workflows\/([0-9a-f]+)\/triggers\/manual\/paths\/invoke$/.exec(url.pathname);
    if (request.method !== 'POST' || !match) return failure(404, 'NotFound', 'Not found');
    if (match[1] !== WORKFLOW)
      return failure(404, 'WorkflowNotFound', `The workflow '${match[1]}' could not be found.`);
    if (url.searchParams.get('sig') !== SIG)
      return failure(
        401,
        'DirectApiAuthorizationRequired',
        'The request must be authenticated only by Shared Access scheme.',
      );
    if (Buffer.byteLength(request.body, 'utf8') > MAX_BYTES)
      return failure(413, 'MessageTooLarge', 'The message is larger than 28 KB.');
    let body: Record<string, unknown>;
    try {
      body = request.json();
    } catch {
      return failure(400, 'InvalidRequestContent', 'The request content is not valid JSON.');
    }
    const invalid = invalidBody(body);
    if (invalid) return failure(400, 'InvalidRequestContent', invalid);
    cards.push((body.attachments as { content: Record<string, unknown> }[])[0]?.content ?? {});
    return { status: 202 };
  };
  return {
    webhookUrl: `${server.url}/workflows/${WORKFLOW}/triggers/manual/paths/invoke?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=${SIG}`,
    sig: SIG,
    requests: server.requests,
    cards,
    script: server.script,
    stop: server.stop,
  };
}
