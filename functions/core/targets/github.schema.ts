import * as z from 'zod';
import { secretNameField, timeoutMsField } from './fields.schema.ts';
import { GITHUB_API } from './github-api.ts';

/** Config fields every GitHub target has: where GitHub is, how to authenticate, how fast to write. */
export const githubConnectionFields = {
  /** REST API root: https://api.github.com, or https://<host>/api/v3 for GitHub Enterprise Server. */
  baseUrl: z
    .url({ protocol: /^https?$/, error: 'must be an http(s) URL such as https://ghe.example.com/api/v3' })
    .default(GITHUB_API),
  /** Name of the secret holding a token (fine-grained or classic PAT). Either this or `app`. */
  token: secretNameField().optional(),
  /** Authenticate as a GitHub App installation. Either this or `token`. */
  app: z
    .object({
      /** The App's id (number) or client id (string), the JWT's `iss`. */
      appId: z.union([
        z.number().int().positive(),
        z.string().regex(/^[A-Za-z0-9.]{1,64}$/, 'the App id or client id (e.g. Iv23li…)'),
      ]),
      /** Name of the secret holding the App's private key (PEM). */
      privateKey: secretNameField(),
      /** Without it, the installation is looked up per repository (GET /repos/{owner}/{repo}/installation). */
      installationId: z.number().int().positive().optional(),
    })
    .strict()
    .optional(),
  /** Shipcast's spacing of POSTs per token/installation, shared by all dispatchers (GitHub: about 80/min). */
  maxWritesPerMinute: z.number().int().min(1).max(1000).default(80),
  timeoutMs: timeoutMsField(),
};

/** Refinement for a GitHub target's config: exactly one of `token` and `app`. */
export function checkGitHubAuth(config: { token?: string; app?: unknown }, ctx: z.RefinementCtx): void {
  if (config.token !== undefined && config.app !== undefined) {
    ctx.addIssue({ code: 'custom', path: ['app'], message: 'use either `token` or `app`, not both' });
  } else if (config.token === undefined && config.app === undefined) {
    ctx.addIssue({
      code: 'custom',
      path: ['token'],
      message: 'set `token` (a secret name) or `app` ({ appId, privateKey, installationId? })',
    });
  }
}
