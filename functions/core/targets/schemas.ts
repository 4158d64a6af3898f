import * as z from 'zod';
import { bigpandaConfigSchema } from './bigpanda.schema.ts';
import { bitbucketCommentConfigSchema } from './bitbucket-comment.schema.ts';
import { bitbucketStatusConfigSchema } from './bitbucket-status.schema.ts';
import { datadogConfigSchema } from './datadog.schema.ts';
import { discordConfigSchema } from './discord.schema.ts';
import { emailConfigSchema } from './email.schema.ts';
import { eventbridgeConfigSchema } from './eventbridge.schema.ts';
import { httpUrlField, messageTemplatesSchema, timeoutMsField } from './fields.schema.ts';
import { gerritConfigSchema } from './gerrit.schema.ts';
import { githubCommentConfigSchema } from './github-comment.schema.ts';
import { githubDeploymentConfigSchema } from './github-deployment.schema.ts';
import { githubStatusConfigSchema } from './github-status.schema.ts';
import { gitlabCommentConfigSchema } from './gitlab-comment.schema.ts';
import { gitlabStatusConfigSchema } from './gitlab-status.schema.ts';
import { googleChatConfigSchema } from './google-chat.schema.ts';
import { grafanaConfigSchema } from './grafana.schema.ts';
import { honeycombConfigSchema } from './honeycomb.schema.ts';
import { jiraConfigSchema } from './jira.schema.ts';
import { logConfigSchema } from './log.schema.ts';
import { mattermostConfigSchema } from './mattermost.schema.ts';
import { newrelicConfigSchema } from './newrelic.schema.ts';
import { pagerdutyConfigSchema } from './pagerduty.schema.ts';
import { pushoverConfigSchema } from './pushover.schema.ts';
import { sentryConfigSchema } from './sentry.schema.ts';
import { inferSlackMode, SLACK_DEFAULT_BASE_URL } from './slack-mode.ts';
import { teamsConfigSchema } from './teams.schema.ts';
import { telegramConfigSchema } from './telegram.schema.ts';
import { webhookConfigSchema } from './webhook.schema.ts';
import { zulipConfigSchema } from './zulip.schema.ts';

/**
 * The config schema of every target type, kept apart from the targets' code (`<type>.ts`, registered in
 * `index.ts`): the config is validated once, by `config.ts` at synth or when local mode loads it, and the
 * Lambda functions trust the config baked into them, so no function bundle carries a schema. Each target's
 * schema is in `<type>.schema.ts` beside its code, registered here with one import and one entry in
 * `TARGET_CONFIG_SCHEMAS`; a schema module never imports its target's code (the target imports its config type).
 */

// ---------------------------------------------------------------------------------------------------
// Chat: Slack, Mattermost

const credentialSecret = z
  .string()
  .regex(/^[A-Za-z0-9_./-]{1,128}$/, 'the name of a secret (letters, digits and _ . / -), never its value');

export const slackConfigSchema = z
  .object({
    type: z.literal('slack'),
    /** `bot`: chat.postMessage then chat.update of one message; `webhook`: an incoming webhook. Inferred when unset. */
    mode: z.enum(['bot', 'webhook']).optional(),
    /** Secret holding the bot token (`xoxb-…`, scope chat:write). */
    token: credentialSecret.optional(),
    /** Channel ID (`C0123456789`) or name the bot posts to (bot mode; the bot must be in it). */
    channel: z.string().min(1).max(80).optional(),
    /** Secret holding the incoming webhook URL (webhook mode): the URL is a credential. */
    webhookUrl: credentialSecret.optional(),
    /** Bot mode: reply in the message's thread with the error of a failed deployment (once per deployment). */
    threadDetails: z.boolean().default(true),
    /** Web API base URL (tests, proxies). */
    baseUrl: httpUrlField().default(SLACK_DEFAULT_BASE_URL),
    /** Title and text templates (a route's `message` wins). */
    message: messageTemplatesSchema,
    timeoutMs: timeoutMsField(),
  })
  .strict()
  .superRefine((config, ctx) => {
    const mode = config.mode ?? inferSlackMode(config);
    if (!mode) {
      ctx.addIssue({
        code: 'custom',
        path: config.token && config.webhookUrl ? ['mode'] : [],
        message:
          config.token && config.webhookUrl
            ? 'both token and webhookUrl are set: choose with mode "bot" or "webhook"'
            : 'set token + channel (bot: one message per deployment, updated) or webhookUrl (incoming webhook: a message per transition)',
      });
      return;
    }
    if (mode === 'bot') {
      if (!config.token)
        ctx.addIssue({
          code: 'custom',
          path: ['token'],
          message: 'required in bot mode: the name of the secret holding the bot token',
        });
      if (!config.channel)
        ctx.addIssue({
          code: 'custom',
          path: ['channel'],
          message: 'required in bot mode: the channel ID (C0123456789) to post to',
        });
    } else {
      if (!config.webhookUrl)
        ctx.addIssue({
          code: 'custom',
          path: ['webhookUrl'],
          message: 'required in webhook mode: the name of the secret holding the incoming webhook URL',
        });
      if (config.channel)
        ctx.addIssue({
          code: 'custom',
          path: ['channel'],
          message:
            'an incoming webhook posts to the channel it was created for; remove channel or use mode "bot"',
        });
    }
  });
export type SlackConfig = z.infer<typeof slackConfigSchema>;

// ---------------------------------------------------------------------------------------------------

/** The config schema of every target type, in the order of `TARGETS` (`index.ts`). */
export const TARGET_CONFIG_SCHEMAS = [
  webhookConfigSchema,
  logConfigSchema,
  githubDeploymentConfigSchema,
  githubStatusConfigSchema,
  bigpandaConfigSchema,
  teamsConfigSchema,
  googleChatConfigSchema,
  discordConfigSchema,
  slackConfigSchema,
  mattermostConfigSchema,
  telegramConfigSchema,
  zulipConfigSchema,
  pagerdutyConfigSchema,
  grafanaConfigSchema,
  datadogConfigSchema,
  sentryConfigSchema,
  eventbridgeConfigSchema,
  honeycombConfigSchema,
  pushoverConfigSchema,
  gerritConfigSchema,
  emailConfigSchema,
  githubCommentConfigSchema,
  gitlabStatusConfigSchema,
  gitlabCommentConfigSchema,
  bitbucketStatusConfigSchema,
  bitbucketCommentConfigSchema,
  newrelicConfigSchema,
  jiraConfigSchema,
] as const;
