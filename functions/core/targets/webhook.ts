import { createHmac } from 'node:crypto';
import { formatWebhookEvent } from './event-formats.ts';
import { defineTarget } from './target.ts';
import type { WebhookConfig } from './webhook.schema.ts';

/** Header carrying `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`. */
export const SIGNATURE_HEADER = 'shipcast-signature';

/** Signs a webhook body the way receivers verify it (see README, "Verifying webhooks"). */
export function signWebhook(secret: string, body: string, unixSeconds: number): string {
  const mac = createHmac('sha256', secret).update(`${unixSeconds}.${body}`).digest('hex');
  return `t=${unixSeconds},v1=${mac}`;
}

/** JSON POST of the normalized deployment and the transition, HMAC-signed. */
export const webhookTarget = defineTarget<WebhookConfig>({
  type: 'webhook',
  secretNames: (config) => [
    ...(config.secret ? [config.secret] : []),
    ...Object.values(config.headers ?? {}).flatMap((value) =>
      typeof value === 'string' ? [] : [value.secret],
    ),
  ],
  async send({ deployment, transition }, context) {
    const { config, http, secrets } = context;
    const formatted = await formatWebhookEvent({ deployment, transition }, context);
    if ('skipped' in formatted) {
      context.logger.info('nothing to send in this format', {
        format: config.format,
        reason: formatted.skipped,
      });
      return {};
    }
    const body = formatted.body;
    // Configured headers never replace Shipcast's own, whatever their case (fetch would join both values).
    const own = new Set([
      'content-type',
      'shipcast-delivery',
      SIGNATURE_HEADER,
      ...Object.keys(formatted.headers),
    ]);
    const custom: [string, string][] = [];
    for (const [name, value] of Object.entries(config.headers ?? {})) {
      if (own.has(name.toLowerCase())) continue;
      // A header naming a secret: its value is read now (cached by the secret source, masked in logs).
      custom.push([name, typeof value === 'string' ? value : await secrets.get(value.secret)]);
    }
    const headers: Record<string, string> = {
      ...Object.fromEntries(custom),
      ...formatted.headers,
      'shipcast-delivery': `${deployment.id}:${transition.seq}`,
    };
    if (config.secret) {
      const key = await secrets.get(config.secret);
      headers[SIGNATURE_HEADER] = signWebhook(key, body, Math.floor(Date.now() / 1000));
    }
    await http.send({ method: 'POST', url: config.url, headers, body, timeoutMs: config.timeoutMs });
    return {};
  },
});
