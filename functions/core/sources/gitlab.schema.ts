import * as z from 'zod';
import { secretName } from '../config-fields.schema.ts';

/** GitLab webhooks (`POST /v1/hooks/gitlab`): the secret name of the X-Gitlab-Token value. */
export const gitlabSourceConfigSchema = z.object({ token: secretName }).strict();
