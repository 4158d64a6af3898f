import { bigpandaConfigSchema } from './bigpanda.schema.ts';
import { bitbucketCommentConfigSchema } from './bitbucket-comment.schema.ts';
import { bitbucketStatusConfigSchema } from './bitbucket-status.schema.ts';
import { datadogConfigSchema } from './datadog.schema.ts';
import { discordConfigSchema } from './discord.schema.ts';
import { emailConfigSchema } from './email.schema.ts';
import { eventbridgeConfigSchema } from './eventbridge.schema.ts';
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
import { slackConfigSchema } from './slack.schema.ts';
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
