import { type CapturedRequest, type ScriptedAnswer, startTargetServer } from './target-server.ts';

// biome-ignore lint/suspicious/noExplicitAny: GraphQL variables are read field by field
type Json = Record<string, any>;

/** An entity the fake New Relic account has. */
export interface FakeEntity {
  guid: string;
  name: string;
  domain: string;
}

/** A change-tracking event the fake recorded. */
export interface FakeChangeEvent {
  changeTrackingId: string;
  entityGuid: string;
  event: Json;
}

/** A local stand-in for New Relic's NerdGraph (the two operations the `newrelic` target uses). */
export interface NewRelicServer {
  /** The GraphQL endpoint (`…/graphql`). */
  url: string;
  requests: CapturedRequest[];
  events: FakeChangeEvent[];
  /** Answers the next requests, whatever they are, with these. */
  script(...answers: ScriptedAnswer[]): void;
  /** Answers the next change-event mutations with these (searches are answered as usual). */
  scriptMutations(...answers: Answer[]): void;
  stop(): Promise<void>;
}

/** An answer of the fake. */
export type Answer = { status: number; body?: unknown };

const graphqlErrors = (status: number, message: string, extensions: Record<string, string>): Answer => ({
  status,
  body: { errors: [{ message, extensions }], data: null },
});

/**
 * Starts a fake NerdGraph on 127.0.0.1 (`POST /graphql`), answering as NerdGraph does: HTTP 200 with `data`,
 * or with `errors` (`extensions.errorClass`) for a GraphQL-level failure; a missing or unknown `API-Key` is a
 * 401 whose error has `errorCode: BAD_API_KEY` (newrelic-client-go's IsUnauthorized checks both). It knows
 * `actor.entitySearch(query: "name = '…' AND domain = '…'")`, which matches names loosely (substring), as the
 * real search does, and `changeTrackingCreateEvent(changeTrackingEvent: …)`, whose `entitySearch.query` must be
 * `id = '<guid>'` of a known entity (else a BAD_USER_INPUT error: modelled, the docs do not show that answer);
 * a deployment needs `categoryFields.deployment.version`.
 */
export async function startNewRelicServer(options: {
  keys: string[];
  entities: FakeEntity[];
}): Promise<NewRelicServer> {
  const server = await startTargetServer();
  const events: FakeChangeEvent[] = [];
  const mutationAnswers: Answer[] = [];
  let counter = 0;
  server.fallback = (request) => answer(request);

  function answer(request: CapturedRequest): Answer {
    if (request.method !== 'POST' || request.path !== '/graphql') return { status: 404, body: 'Not Found' };
    const key = String(request.headers['api-key'] ?? '');
    if (!options.keys.includes(key)) {
      return graphqlErrors(401, 'Invalid API key', { errorClass: 'UNAUTHORIZED', errorCode: 'BAD_API_KEY' });
    }
    let body: { query?: string; variables?: Json };
    try {
      body = request.json();
    } catch {
      return graphqlErrors(400, 'Invalid JSON body', { errorClass: 'BAD_REQUEST' });
    }
    const query = body.query ?? '';
    if (/\bchangeTrackingCreateEvent\s*\(/.test(query)) {
      return mutationAnswers.shift() ?? createEvent(body.variables?.event);
    }
    if (/\bentitySearch\s*\(/.test(query)) return entitySearch(String(body.variables?.query ?? ''));
    return graphqlErrors(200, 'Cannot query field on type', { errorClass: 'GRAPHQL_VALIDATION_FAILED' });
  }

  function entitySearch(query: string): Answer {
    const name = /name = '((?:[^'\\]|\\.)*)'/.exec(query)?.[1]?.replace(/\\(.)/g, '$1');
    const domain = /domain = '([A-Z]+)'/.exec(query)?.[1];
    const entities = options.entities
      .filter((e) => name !== undefined && e.name.includes(name) && (!domain || e.domain === domain))
      .map((e) => ({ guid: e.guid, name: e.name }));
    return { status: 200, body: { data: { actor: { entitySearch: { results: { entities } } } } } };
  }

  function createEvent(event: Json | undefined): Answer {
    const kind = event?.categoryAndTypeData?.kind;
    if (!kind?.category || !kind?.type) {
      return graphqlErrors(200, 'categoryAndTypeData.kind.category and type are required', {
        errorClass: 'BAD_USER_INPUT',
      });
    }
    if (
      String(kind.category).toLowerCase() === 'deployment' &&
      !event?.categoryAndTypeData?.categoryFields?.deployment?.version
    ) {
      return graphqlErrors(200, 'A deployment requires categoryFields.deployment.version', {
        errorClass: 'BAD_USER_INPUT',
      });
    }
    const guid = /^id = '([^']+)'$/.exec(String(event?.entitySearch?.query ?? ''))?.[1];
    const entity = options.entities.find((e) => e.guid === guid);
    if (!entity) {
      return graphqlErrors(200, 'No entity found for the entitySearch query', {
        errorClass: 'BAD_USER_INPUT',
      });
    }
    counter++;
    const changeTrackingId = `ct-${String(counter).padStart(6, '0')}`;
    events.push({ changeTrackingId, entityGuid: entity.guid, event: event as Json });
    return {
      status: 200,
      body: {
        data: { changeTrackingCreateEvent: { changeTrackingEvent: { changeTrackingId }, messages: [] } },
      },
    };
  }

  return {
    get url() {
      return `${server.url}/graphql`;
    },
    requests: server.requests,
    events,
    script: (...answers) => server.script(...answers),
    scriptMutations: (...answers) => mutationAnswers.push(...answers),
    stop: () => server.stop(),
  };
}
