import * as z from 'zod';
import { secretName } from '../config-fields.schema.ts';

/** GitHub webhooks (`POST /v1/hooks/github`): the secret name of the webhook secret. */
export const githubSourceConfigSchema = z.object({ secret: secretName }).strict();
