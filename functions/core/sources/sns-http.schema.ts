import * as z from 'zod';

/** CodeDeploy triggers through an SNS HTTPS subscription (`POST /v1/hooks/sns`): the topics accepted. */
export const snsSourceConfigSchema = z
  .object({
    topicArns: z
      .array(
        z
          .string()
          .regex(/^arn:aws(-[a-z]+)*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_.-]{1,256}$/, 'not an SNS topic ARN'),
      )
      .min(1),
  })
  .strict();
