import * as z from 'zod';
import { MEMBER_ROLE_NAME } from '../config-defaults.ts';

/** `sources.codedeploy`: CodeDeploy triggers (SNS → ingest queue), on by default. */
export const codedeploySourceConfigSchema = z
  .object({
    /** Call BatchGetDeployments for revision, creator, description. */
    enrich: z.boolean().default(true),
    /**
     * Name of the role the ingest function assumes to enrich deployments of another account
     * (`arn:<partition>:iam::<account>:role/<name>`, created by the member stack: docs/organizations.md).
     */
    memberRoleName: z
      .string()
      .regex(/^[\w+=,.@-]{1,64}$/, 'an IAM role name: 1-64 letters, digits and + = , . @ _ -')
      .default(MEMBER_ROLE_NAME),
    /** Role ARNs by account id, for accounts whose role is not `memberRoleName`. */
    memberRoles: z
      .record(
        z.string().regex(/^\d{12}$/, 'an account id: 12 digits'),
        z.string().regex(/^arn:aws[a-z-]*:iam::\d{12}:role\/[\w+=,.@/-]{1,512}$/, 'an IAM role ARN'),
      )
      .optional(),
  })
  .strict();
