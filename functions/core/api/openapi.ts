import { bigPandaOpenApi } from '../sources/bigpanda.ts';
import { cdEventsOpenApi } from '../sources/cdevents.ts';
import { nativeEventSchema } from '../sources/native.ts';
import { pagerDutyOpenApi } from '../sources/pagerduty.ts';
import { pipelinesOpenApi } from '../sources/pipelines.ts';
import { STATUSES } from '../status.ts';
import { MAX_CI_EVENTS_PAGE, MAX_COUNTED_CI_EVENTS, MAX_PARENT_HOPS, TIMELINE_EVENTS } from '../timeline.ts';
import * as z from '../zod-mini.ts';
import { insightsOpenApi } from './insights-openapi.ts';

let document: Record<string, unknown> | undefined;

/** The OpenAPI 3.1 description of the HTTP API, with request schemas generated from the zod schemas. */
export function openApiDocument(): Record<string, unknown> {
  document ??= build();
  return document;
}

function build(): Record<string, unknown> {
  const { $schema: _ignored, ...eventBody } = z.toJSONSchema(nativeEventSchema(), { io: 'input' }) as Record<
    string,
    unknown
  >;
  const error = {
    type: 'object',
    required: ['error', 'message'],
    properties: {
      error: { type: 'string' },
      message: { type: 'string' },
      issues: {
        type: 'array',
        items: { type: 'object', properties: { path: { type: 'string' }, message: { type: 'string' } } },
      },
    },
  };
  const errorResponse = (description: string) => ({
    description,
    content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
  });
  /** A bearer token; `scope` is what the token must grant (docs/api.md), none for any valid token. */
  const ciEvent = {
    type: 'object',
    description: 'A CI event (push, pull request or build) as the Pipelines-compatible API records it.',
    required: ['eventId', 'type', 'eventTime'],
    properties: {
      eventId: { type: 'string' },
      type: { type: 'string', enum: ['PUSH', 'PULLREQUEST', 'BUILD'] },
      eventTime: { type: 'string' },
      parentEventId: { type: 'string' },
    },
    additionalProperties: true,
  };
  const secured = (scope?: string) => [{ bearer: scope ? [scope] : [] }];
  const dropIns = [
    bigPandaOpenApi(),
    cdEventsOpenApi(),
    insightsOpenApi(secured, errorResponse),
    pagerDutyOpenApi(),
  ];
  const pipelines = pipelinesOpenApi();
  const hookAnswer = (description: string) => ({
    description,
    content: { 'application/json': { schema: { $ref: '#/components/schemas/HookAccepted' } } },
  });
  return {
    openapi: '3.1.0',
    info: {
      title: 'Shipcast API',
      version: '1',
      description: 'Records deployment events once and announces them everywhere.',
    },
    components: {
      securitySchemes: {
        bearer: {
          type: 'http',
          scheme: 'bearer',
          description:
            'A configured API token. Each operation lists the scope it needs: events:write, deployments:read, deployments:write, pipelines:read, pipelines:write, incidents:read, incidents:write or metrics:read; `read` grants every :read scope, `write` every :write scope, `admin` everything (a token configured without scopes has admin). 401: missing or unknown token; 403: the token lacks the scope',
        },
        ...pipelines.securitySchemes,
        snsSignature: {
          type: 'apiKey',
          in: 'header',
          name: 'x-amz-sns-message-type',
          description:
            'The SNS message signature (SignatureVersion 1 or 2) verified with the certificate from an sns.<region>.amazonaws.com SigningCertURL; the topic must be in sources.sns.topicArns',
        },
        slackSignature: {
          type: 'apiKey',
          in: 'header',
          name: 'X-Slack-Signature',
          description:
            "`v0=` + hex HMAC-SHA256 of `v0:<X-Slack-Request-Timestamp>:<raw body>` under the Slack app's signing secret (a slack target's actions.signingSecret); the timestamp must be within 5 minutes",
        },
        githubSignature: {
          type: 'apiKey',
          in: 'header',
          name: 'X-Hub-Signature-256',
          description:
            '`sha256=` + hex HMAC-SHA256 of the raw body under the webhook secret (sources.github.secret)',
        },
        gitlabToken: {
          type: 'apiKey',
          in: 'header',
          name: 'X-Gitlab-Token',
          description: 'The webhook secret token (sources.gitlab.token)',
        },
        pagerDutySignature: {
          type: 'apiKey',
          in: 'header',
          name: 'X-PagerDuty-Signature',
          description:
            'Comma-separated `v1=` + hex HMAC-SHA256 of the raw body under the subscription signing secret (sources.pagerduty.secret); one must match',
        },
      },
      schemas: {
        Error: error,
        ...Object.assign({}, ...dropIns.map((d) => d.schemas)),
        ...pipelines.schemas,
        EventRequest: eventBody,
        EventAccepted: {
          type: 'object',
          required: ['eventId', 'deploymentId', 'status'],
          properties: {
            eventId: { type: 'string' },
            deploymentId: { type: 'string' },
            status: { type: ['string', 'null'], enum: [...STATUSES, null] },
          },
        },
        HookAccepted: {
          type: 'object',
          description:
            'What a webhook became: a deployment event (`eventId`, `deploymentId`, `status`), a CI event ' +
            '(`eventId`, `type`, `status`, `final`, `write`), a link to a Shipcast-created deployment (`linked`), ' +
            'or `ignored` with the event name (nothing stored).',
          properties: {
            eventId: { type: 'string' },
            deploymentId: { type: 'string' },
            status: { type: ['string', 'null'] },
            type: { type: 'string', enum: ['PUSH', 'PULLREQUEST', 'BUILD'] },
            final: { type: 'boolean' },
            write: { type: 'string', enum: ['created', 'updated', 'unchanged'] },
            linked: { type: 'string' },
            ignored: { type: 'string' },
            reason: { type: 'string' },
            pong: { type: 'boolean' },
          },
        },
        Deployment: {
          type: 'object',
          description: 'The normalized deployment record.',
          required: ['id', 'source', 'status', 'createdAt', 'transitions'],
          properties: {
            id: { type: 'string' },
            source: { type: 'string' },
            service: { type: 'string' },
            environment: { type: 'string' },
            account: {
              type: 'string',
              description:
                'AWS account the deployment ran in (CodeDeploy: from the trigger or EventBridge event)',
            },
            region: { type: 'string', description: 'AWS region the deployment ran in' },
            status: { type: 'string', enum: [...STATUSES] },
            sourceStatus: { type: 'string' },
            transitions: { type: 'array', items: { type: 'object' } },
          },
          additionalProperties: true,
        },
      },
    },
    paths: {
      ...Object.assign({}, ...dropIns.map((d) => d.paths)),
      ...pipelines.paths,
      '/healthz': { get: { summary: 'Liveness', responses: { '200': { description: 'Shipcast is up' } } } },
      '/v1/openapi.json': {
        get: {
          summary: 'This OpenAPI document',
          security: secured(),
          responses: { '200': { description: 'The OpenAPI 3.1 document' } },
        },
      },
      '/v1/events': {
        post: {
          summary: 'Record one deployment event',
          description:
            'The deployment an event belongs to: a `deploymentId` of the form dep_ + 24 hex digits is a Shipcast ' +
            'deployment id (as this operation answers it), which must exist with the same service and environment ' +
            '(else 400 naming deploymentId); any other `deploymentId` is your own id within the service; else ' +
            'service + environment + `version` (or `commit`). An event with none of deploymentId, version and ' +
            'commit must carry an Idempotency-Key (else 400 naming it): its retry would otherwise be a second deployment.',
          security: secured('events:write'),
          parameters: [
            {
              name: 'Idempotency-Key',
              in: 'header',
              required: false,
              schema: { type: 'string', maxLength: 255 },
              description:
                'A replay with the same key answers the same result and changes nothing. Required when the body has no deploymentId, version or commit.',
            },
          ],
          requestBody: {
            required: true,
            content: { 'application/json': { schema: { $ref: '#/components/schemas/EventRequest' } } },
          },
          responses: {
            '202': {
              description: 'Recorded',
              content: { 'application/json': { schema: { $ref: '#/components/schemas/EventAccepted' } } },
            },
            '400': errorResponse('Invalid body or headers; every problem with its field path'),
            '401': errorResponse('Missing or unknown bearer token'),
            '403': errorResponse('The token lacks the scope this operation needs'),
            '413': errorResponse('Body over 64 KiB'),
            '422': errorResponse('Idempotency-Key reused with a different body'),
          },
        },
      },
      '/v1/deployments': {
        get: {
          summary: 'List deployments, newest first',
          description:
            'A cursor continues the listing it came from: send it with the same filters. A page can be short (or empty) with a cursor when filters drop many deployments: go on with the cursor until it is null.',
          security: secured('deployments:read'),
          parameters: [
            { name: 'service', in: 'query', schema: { type: 'string' } },
            { name: 'environment', in: 'query', schema: { type: 'string' } },
            {
              name: 'status',
              in: 'query',
              description: 'Only deployments with this normalized status',
              schema: { type: 'string', enum: [...STATUSES] },
            },
            {
              name: 'source',
              in: 'query',
              description: 'Only deployments from this source (native, codedeploy, github, …)',
              schema: { type: 'string', maxLength: 64 },
            },
            {
              name: 'from',
              in: 'query',
              description: 'Created at or after this time (inclusive)',
              schema: { type: 'string', format: 'date-time' },
            },
            {
              name: 'to',
              in: 'query',
              description: 'Created before this time (exclusive); must be after from',
              schema: { type: 'string', format: 'date-time' },
            },
            {
              name: 'limit',
              in: 'query',
              schema: { type: 'integer', minimum: 1, maximum: 100, default: 20 },
            },
            { name: 'cursor', in: 'query', schema: { type: 'string' } },
          ],
          responses: {
            '200': {
              description: 'A page of deployments; pass `cursor` to get the next one',
              content: {
                'application/json': {
                  schema: {
                    type: 'object',
                    properties: {
                      deployments: { type: 'array', items: { $ref: '#/components/schemas/Deployment' } },
                      cursor: { type: ['string', 'null'] },
                    },
                  },
                },
              },
            },
            '400': errorResponse('Invalid query'),
            '401': errorResponse('Missing or unknown bearer token'),
            '403': errorResponse('The token lacks the scope this operation needs'),
          },
        },
      },
      '/v1/hooks/sns': {
        post: {
          summary:
            'CodeDeploy triggers through an SNS HTTPS subscription (signature-verified, topic allowlist)',
          security: [{ snsSignature: [] }],
          requestBody: { required: true, content: { 'text/plain': { schema: { type: 'string' } } } },
          responses: {
            '200': { description: 'The subscription confirmed (or its removal acknowledged)' },
            '202': {
              description:
                'Verified and queued for the ingest function, which records it like a trigger SNS delivered to the ingest queue',
              content: {
                'application/json': {
                  schema: {
                    type: 'object',
                    required: ['queued', 'messageId'],
                    properties: { queued: { type: 'boolean' }, messageId: { type: 'string' } },
                  },
                },
              },
            },
            '400': errorResponse('Not an SNS message, or its Message is not acceptable JSON'),
            '401': errorResponse('Signature, certificate URL or topic not accepted'),
            '404': errorResponse('SNS HTTP subscriptions are not configured'),
            '413': errorResponse('Body over 256 KiB, or over the queue limit once escaped'),
            '503': errorResponse('This runtime has no ingest queue'),
          },
        },
      },
      '/v1/deployments/{id}': {
        get: {
          summary:
            'One deployment with its event history, delivery state per target, timeline and (with incidents:read) its incidents',
          description:
            `When its revision names a repository and a commit, \`timeline\` holds the newest ${TIMELINE_EVENTS} CI ` +
            "events of the commit with their parents (oldest first), `eventsTotal` (the commit's CI events, " +
            `counted up to ${MAX_COUNTED_CI_EVENTS}; \`eventsTotalExact\` false above) and \`cursor\` for the older ones (GET ` +
            '/v1/deployments/{id}/ci-events?cursor=…; null when there are none).',
          security: secured('deployments:read'),
          parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }],
          responses: {
            '200': {
              description: 'The deployment',
              content: {
                'application/json': {
                  schema: {
                    type: 'object',
                    required: ['deployment', 'events', 'deliveries'],
                    properties: {
                      deployment: { $ref: '#/components/schemas/Deployment' },
                      events: { type: 'array', items: { type: 'object' } },
                      deliveries: { type: 'array', items: { type: 'object' } },
                      timeline: {
                        type: 'object',
                        required: [
                          'repository',
                          'commit',
                          'events',
                          'eventsTotal',
                          'eventsTotalExact',
                          'cursor',
                        ],
                        properties: {
                          repository: { type: 'string' },
                          commit: { type: 'string' },
                          events: {
                            type: 'array',
                            maxItems: TIMELINE_EVENTS * (1 + MAX_PARENT_HOPS),
                            items: ciEvent,
                          },
                          eventsTotal: { type: 'integer', maximum: MAX_COUNTED_CI_EVENTS },
                          eventsTotalExact: {
                            type: 'boolean',
                            description: `false: the commit has more than ${MAX_COUNTED_CI_EVENTS} CI events`,
                          },
                          cursor: { type: ['string', 'null'] },
                          firstPushAt: { type: ['string', 'null'] },
                          leadTimeSeconds: { type: ['number', 'null'] },
                        },
                      },
                    },
                  },
                },
              },
            },
            '401': errorResponse('Missing or unknown bearer token'),
            '403': errorResponse('The token lacks the scope this operation needs'),
            '404': errorResponse('No such deployment'),
          },
        },
      },
      '/v1/deployments/{id}/ci-events': {
        get: {
          summary: "The CI events of the deployment's commit, newest first, a page at a time",
          description:
            'Pages through every CI event of the repository and commit the deployment names (parents of other ' +
            "commits are not repeated here). Pass the `cursor` of the deployment's timeline, or of the previous " +
            'page; `cursor` is null on the last page. A deployment without repository and commit has none.',
          security: secured('deployments:read'),
          parameters: [
            { name: 'id', in: 'path', required: true, schema: { type: 'string' } },
            {
              name: 'limit',
              in: 'query',
              schema: {
                type: 'integer',
                minimum: 1,
                maximum: MAX_CI_EVENTS_PAGE,
                default: MAX_CI_EVENTS_PAGE,
              },
            },
            {
              name: 'cursor',
              in: 'query',
              schema: { type: 'string' },
              description: 'Opaque; from an earlier answer',
            },
          ],
          responses: {
            '200': {
              description: 'A page of CI events',
              content: {
                'application/json': {
                  schema: {
                    type: 'object',
                    required: ['repository', 'commit', 'events', 'cursor'],
                    properties: {
                      repository: { type: ['string', 'null'] },
                      commit: { type: ['string', 'null'] },
                      events: { type: 'array', maxItems: MAX_CI_EVENTS_PAGE, items: ciEvent },
                      cursor: { type: ['string', 'null'] },
                    },
                  },
                },
              },
            },
            '400': errorResponse('Invalid query, or a cursor not of this listing'),
            '401': errorResponse('Missing or unknown bearer token'),
            '403': errorResponse('The token lacks the scope this operation needs'),
            '404': errorResponse('No such deployment'),
          },
        },
      },
      '/v1/deployments/{id}/actions': {
        post: {
          summary:
            "Record a stop made with the caller's own AWS credentials (shipcast codedeploy stop), with who asked",
          description:
            "Writes an operator event to the history (actor, the token's name, outcome); a `recorded` stop of a " +
            'running deployment also updates its living chat messages. Shipcast does not call CodeDeploy here. ' +
            'An Idempotency-Key records one request once.',
          security: secured('deployments:write'),
          parameters: [
            { name: 'id', in: 'path', required: true, schema: { type: 'string' } },
            {
              name: 'Idempotency-Key',
              in: 'header',
              required: false,
              schema: { type: 'string', maxLength: 255 },
            },
          ],
          requestBody: {
            required: true,
            content: {
              'application/json': {
                schema: {
                  type: 'object',
                  required: ['action', 'actor'],
                  additionalProperties: false,
                  properties: {
                    action: { type: 'string', enum: ['stop', 'stop-and-rollback'] },
                    actor: { type: 'string', minLength: 1, maxLength: 100 },
                    outcome: { type: 'string', enum: ['recorded', 'failed'], default: 'recorded' },
                    detail: { type: 'string', minLength: 1, maxLength: 500 },
                  },
                },
              },
            },
          },
          responses: {
            '201': { description: 'Recorded: `{ eventId, deploymentId, operator }`' },
            '400': errorResponse('Body or header not valid'),
            '401': errorResponse('Missing or unknown token'),
            '403': errorResponse('The token lacks deployments:write'),
            '404': errorResponse('No such deployment'),
          },
        },
      },
      '/v1/hooks/slack/interactions': {
        post: {
          summary: 'Slack interactivity: the Stop / Stop and roll back buttons of a living message',
          description:
            'Form-encoded `payload=` (block_actions) as Slack sends it, verified with X-Slack-Signature and a ' +
            'X-Slack-Request-Timestamp within 5 minutes before anything is read. Always 200 once verified; the ' +
            "clicking user is answered through the payload's response_url. No bearer token.",
          security: [{ slackSignature: [] }],
          parameters: [
            { name: 'X-Slack-Request-Timestamp', in: 'header', required: true, schema: { type: 'string' } },
          ],
          requestBody: {
            required: true,
            content: {
              'application/x-www-form-urlencoded': {
                schema: {
                  type: 'object',
                  required: ['payload'],
                  properties: { payload: { type: 'string' } },
                },
              },
            },
          },
          responses: {
            '200': { description: 'Acknowledged (the outcome goes to the user through response_url)' },
            '400': errorResponse('No payload field, or a payload that is not a JSON object'),
            '401': errorResponse('Timestamp missing or outside 5 minutes, or signature not valid'),
            '404': errorResponse('No slack target has actions'),
            '413': errorResponse('Body over 1 MiB'),
          },
        },
      },
      '/v1/hooks/github': {
        post: {
          summary: 'GitHub webhook: deployment, deployment_status, workflow_run, push (ping answered)',
          description:
            'Verified with X-Hub-Signature-256 before anything is read; a redelivery (same X-GitHub-Delivery) ' +
            'answers the first answer again. No bearer token.',
          security: [{ githubSignature: [] }],
          parameters: [
            { name: 'X-GitHub-Event', in: 'header', required: true, schema: { type: 'string' } },
            {
              name: 'X-GitHub-Delivery',
              in: 'header',
              required: true,
              schema: { type: 'string', maxLength: 255 },
            },
          ],
          requestBody: { required: true, content: { 'application/json': { schema: { type: 'object' } } } },
          responses: {
            '200': hookAnswer('A ping, or an event linked to the Shipcast deployment that created it'),
            '202': hookAnswer('Recorded, or ignored (unsupported event; nothing stored)'),
            '400': errorResponse('Body is not a JSON object, or a malformed delivery header'),
            '401': errorResponse('X-Hub-Signature-256 missing or not valid for the body'),
            '404': errorResponse('GitHub webhooks are not configured (sources.github)'),
            '413': errorResponse('Body over 1 MiB'),
            '422': errorResponse('A delivery id seen before with a different body'),
          },
        },
      },
      '/v1/hooks/gitlab': {
        post: {
          summary: 'GitLab webhook: Deployment and Pipeline hooks',
          description:
            'Verified with X-Gitlab-Token before anything is read; a retry or resend (same Idempotency-Key, ' +
            'else X-Gitlab-Event-UUID) answers the first answer again. No bearer token.',
          security: [{ gitlabToken: [] }],
          parameters: [
            { name: 'X-Gitlab-Event', in: 'header', required: false, schema: { type: 'string' } },
            {
              name: 'Idempotency-Key',
              in: 'header',
              required: false,
              schema: { type: 'string', maxLength: 255 },
            },
            {
              name: 'X-Gitlab-Event-UUID',
              in: 'header',
              required: false,
              schema: { type: 'string', maxLength: 255 },
            },
          ],
          requestBody: { required: true, content: { 'application/json': { schema: { type: 'object' } } } },
          responses: {
            '202': hookAnswer('Recorded, or ignored (unsupported object_kind; nothing stored)'),
            '400': errorResponse('Body is not a JSON object, or a malformed delivery header'),
            '401': errorResponse('X-Gitlab-Token missing or wrong'),
            '404': errorResponse('GitLab webhooks are not configured (sources.gitlab)'),
            '413': errorResponse('Body over 1 MiB'),
            '422': errorResponse('A delivery id seen before with a different body'),
          },
        },
      },
    },
  };
}
