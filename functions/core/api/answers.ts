import type { Hono } from 'hono';
import { InvalidInputError } from '../errors.ts';
import type { Logger } from '../telemetry.ts';

/**
 * How an API app answers an invalid input (400 with its issues), an unexpected error (500, logged) and a path it
 * has no route for (404): the same for the main app and the rare routes' app.
 */
export function answerErrors(app: Hono<{ Variables: { token: string } }>, logger: Logger): void {
  app.onError((error, c) => {
    if (error instanceof InvalidInputError) {
      return c.json({ error: 'invalid_request', message: error.message, issues: error.issues }, 400);
    }
    logger.error('request failed', { error, path: c.req.path, method: c.req.method });
    return c.json(
      { error: 'internal_error', message: 'Shipcast could not process the request; retry it.' },
      500,
    );
  });
  app.notFound((c) =>
    c.json({ error: 'not_found', message: `no route for ${c.req.method} ${c.req.path}` }, 404),
  );
}
