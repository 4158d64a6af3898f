import { z } from 'zod';
import { nativeEventSchema } from '../sources/native.ts';
import { STATUSES } from '../status.ts';

let document: Record<string, unknown> | undefined;

/** The OpenAPI 3.1 description of the HTTP API, with request schemas generated from the zod schemas. */
export function openApiDocument(): Record<string, unknown> {
  document ??= build();
  return document;
}

function build(): Record<string, unknown> {
  const { $schema: _ignored, ...eventBody } = z.toJSONSchema(nativeEventSchema, { io: 'input' }) as Record<
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
  const secured = [{ bearer: [] }];
  return {
    openapi: '3.1.0',
    info: {
      title: 'Shipcast API',
      version: '1',
      description: 'Records deployment events once and announces them everywhere.',
    },
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
      schemas: {
        Error: error,
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
        Deployment: {
          type: 'object',
          description: 'The normalized deployment record.',
          required: ['id', 'source', 'status', 'createdAt', 'transitions'],
          properties: {
            id: { type: 'string' },
            source: { type: 'string' },
            service: { type: 'string' },
            environment: { type: 'string' },
            status: { type: 'string', enum: [...STATUSES] },
            sourceStatus: { type: 'string' },
            transitions: { type: 'array', items: { type: 'object' } },
          },
          additionalProperties: true,
        },
      },
    },
    paths: {
      '/healthz': { get: { summary: 'Liveness', responses: { '200': { description: 'Shipcast is up' } } } },
      '/v1/openapi.json': {
        get: {
          summary: 'This OpenAPI document (no token needed)',
          responses: { '200': { description: 'The OpenAPI 3.1 document' } },
        },
      },
      '/v1/events': {
        post: {
          summary: 'Record one deployment event',
          security: secured,
          parameters: [
            {
              name: 'Idempotency-Key',
              in: 'header',
              required: false,
              schema: { type: 'string', maxLength: 255 },
              description: 'A replay with the same key answers the same result and changes nothing.',
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
            '413': errorResponse('Body over 64 KiB'),
            '422': errorResponse('Idempotency-Key reused with a different body'),
          },
        },
      },
      '/v1/deployments': {
        get: {
          summary: 'List deployments, newest first',
          security: secured,
          parameters: [
            { name: 'service', in: 'query', schema: { type: 'string' } },
            { name: 'environment', in: 'query', schema: { type: 'string' } },
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
          },
        },
      },
      '/v1/deployments/{id}': {
        get: {
          summary: 'One deployment with its event history and delivery state per target',
          security: secured,
          parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }],
          responses: {
            '200': { description: 'The deployment' },
            '401': errorResponse('Missing or unknown bearer token'),
            '404': errorResponse('No such deployment'),
          },
        },
      },
    },
  };
}
