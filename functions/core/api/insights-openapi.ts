import { incidentBodySchema } from '../incidents.ts';
import * as z from '../zod-mini.ts';

const metric = (extra: Record<string, unknown> = {}) => ({
  type: 'object',
  required: ['value', 'basedOn', 'band'],
  properties: {
    value: { type: ['number', 'null'] },
    basedOn: {
      type: 'integer',
      description: 'How many deployments (or lead times, recoveries) it is based on',
    },
    band: { type: ['string', 'null'], enum: ['elite', 'high', 'medium', 'low', null] },
    ...extra,
  },
});

/** The OpenAPI schemas and paths of the incident and DORA routes (docs/api.md, docs/incidents.md). */
export function insightsOpenApi(
  secured: (scope: string) => unknown[],
  errorResponse: (description: string) => unknown,
) {
  const { $schema: _ignored, ...incidentBody } = z.toJSONSchema(incidentBodySchema(), {
    io: 'input',
  }) as Record<string, unknown>;
  const nullableString = { type: ['string', 'null'] };
  const figures = {
    deploymentFrequency: metric({
      deployments: { type: 'integer' },
      perWeek: { type: 'number' },
      deploymentDaysPerWeek: { type: ['number', 'null'] },
    }),
    changeLeadTime: metric({ deploymentsWithLeadTime: { type: 'integer' } }),
    changeFailRate: metric({ failed: { type: 'integer' } }),
    recoveryTime: metric({ unrecovered: { type: 'integer' } }),
    reworkRate: metric({ rework: { type: 'integer' } }),
  };
  const schemas = {
    IncidentRequest: incidentBody,
    Incident: {
      type: 'object',
      required: ['id', 'service', 'environment', 'title', 'status', 'openedAt', 'link', 'causedByChange'],
      properties: {
        id: { type: 'string', pattern: '^inc_[0-9a-f]{24}$' },
        source: { type: 'string', enum: ['api', 'cdevents'] },
        sourceId: nullableString,
        service: { type: 'string' },
        environment: { type: 'string' },
        severity: nullableString,
        title: { type: 'string' },
        url: nullableString,
        status: { type: 'string', enum: ['open', 'resolved'] },
        openedAt: { type: 'string', format: 'date-time' },
        resolvedAt: { type: ['string', 'null'], format: 'date-time' },
        deploymentId: nullableString,
        link: { type: 'string', enum: ['given', 'auto', 'none'] },
        causedByChange: { type: 'boolean' },
        createdAt: { type: 'string', format: 'date-time' },
        updatedAt: { type: 'string', format: 'date-time' },
      },
    },
    DoraMetrics: {
      type: 'object',
      description: 'computeDora over the window (docs/dora.md), with bandSource and what was read',
      properties: {
        services: { type: ['array', 'null'], items: { type: 'string' } },
        environment: nullableString,
        from: { type: 'string', format: 'date-time' },
        to: { type: 'string', format: 'date-time' },
        interval: { type: 'string', enum: ['week', 'month'] },
        ...figures,
        series: {
          type: 'array',
          items: {
            type: 'object',
            properties: { start: { type: 'string' }, end: { type: 'string' }, ...figures },
          },
        },
        classified: {
          type: 'array',
          items: {
            type: 'object',
            properties: {
              deploymentId: { type: 'string' },
              failed: { type: 'array', items: { type: 'string' } },
              rework: { type: 'array', items: { type: 'string' } },
              rollback: { type: 'boolean' },
            },
          },
        },
        bandSource: { type: 'string' },
        productionEnvironments: { type: 'array', items: { type: 'string' } },
        reads: {
          type: 'object',
          properties: { deployments: { type: 'integer' }, incidents: { type: 'integer' } },
        },
      },
    },
  };
  const incidentAnswer = (description: string) => ({
    description,
    content: {
      'application/json': {
        schema: { type: 'object', properties: { incident: { $ref: '#/components/schemas/Incident' } } },
      },
    },
  });
  const denied = {
    '401': errorResponse('Missing or unknown bearer token'),
    '403': errorResponse('The token lacks the scope this operation needs'),
  };
  const query = (name: string, schema: Record<string, unknown>, description?: string) => ({
    name,
    in: 'query',
    required: false,
    schema,
    ...(description ? { description } : {}),
  });
  const paths = {
    '/v1/incidents': {
      post: {
        summary: 'Open, update or resolve an incident (keyed by your id, or by openedAt and title)',
        security: secured('incidents:write'),
        requestBody: {
          required: true,
          content: { 'application/json': { schema: { $ref: '#/components/schemas/IncidentRequest' } } },
        },
        responses: {
          '200': incidentAnswer('Updated'),
          '201': incidentAnswer('Opened'),
          '400': errorResponse('Invalid body (nothing stored)'),
          ...denied,
        },
      },
      get: {
        summary: 'Incidents, newest opened first',
        security: secured('incidents:read'),
        parameters: [
          query('service', { type: 'string' }),
          query('environment', { type: 'string' }),
          query('status', { type: 'string', enum: ['open', 'resolved'] }),
          query('limit', { type: 'integer', minimum: 1, maximum: 100, default: 20 }),
          query('cursor', { type: 'string' }),
        ],
        responses: {
          '200': {
            description: 'A page of incidents',
            content: {
              'application/json': {
                schema: {
                  type: 'object',
                  properties: {
                    incidents: { type: 'array', items: { $ref: '#/components/schemas/Incident' } },
                    cursor: nullableString,
                  },
                },
              },
            },
          },
          '400': errorResponse('Invalid query'),
          ...denied,
        },
      },
    },
    '/v1/incidents/{id}': {
      get: {
        summary: 'One incident',
        security: secured('incidents:read'),
        parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }],
        responses: {
          '200': incidentAnswer('The incident'),
          ...denied,
          '404': errorResponse('No such incident'),
        },
      },
    },
    '/v1/metrics/dora': {
      get: {
        summary: 'The five DORA metrics over a window, with a series per week or month and their bands',
        security: secured('metrics:read'),
        parameters: [
          query(
            'service',
            { type: 'string' },
            'A service, or a comma-separated list of at most 20; none: all',
          ),
          query('environment', { type: 'string' }),
          query('from', { type: 'string', format: 'date-time' }, 'Inclusive; default: 28 days before to'),
          query('to', { type: 'string', format: 'date-time' }, 'Exclusive; default: now'),
          query('interval', { type: 'string', enum: ['week', 'month'], default: 'week' }),
        ],
        responses: {
          '200': {
            description: 'The metrics',
            content: { 'application/json': { schema: { $ref: '#/components/schemas/DoraMetrics' } } },
          },
          '400': errorResponse('Invalid query (a window over 366 days, from not before to, …)'),
          ...denied,
          '422': errorResponse('The window needs more than 20,000 deployments and incidents read'),
        },
      },
    },
  };
  return { schemas, paths };
}
