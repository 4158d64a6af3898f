import * as z from 'zod';

/** `sources.codedeploy`: CodeDeploy triggers (SNS → ingest queue), on by default. */
export const codedeploySourceConfigSchema = z
  .object({
    /** Call BatchGetDeployments for revision, creator, description. */
    enrich: z.boolean().default(true),
  })
  .strict();
