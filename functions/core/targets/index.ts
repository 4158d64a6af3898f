import { bigpandaTarget } from './bigpanda.ts';
import { bitbucketCommentTarget } from './bitbucket-comment.ts';
import { bitbucketStatusTarget } from './bitbucket-status.ts';
import { datadogTarget } from './datadog.ts';
import { discordTarget } from './discord.ts';
import { emailTarget } from './email.ts';
import { eventbridgeTarget } from './eventbridge.ts';
import { gerritTarget } from './gerrit.ts';
import { githubCommentTarget } from './github-comment.ts';
import { githubDeploymentTarget } from './github-deployment.ts';
import { githubStatusTarget } from './github-status.ts';
import { gitlabCommentTarget } from './gitlab-comment.ts';
import { gitlabStatusTarget } from './gitlab-status.ts';
import { googleChatTarget } from './google-chat.ts';
import { grafanaTarget } from './grafana.ts';
import { honeycombTarget } from './honeycomb.ts';
import { jiraTarget } from './jira.ts';
import { logTarget } from './log.ts';
import { mattermostTarget } from './mattermost.ts';
import { newrelicTarget } from './newrelic.ts';
import { pagerdutyTarget } from './pagerduty.ts';
import { pushoverTarget } from './pushover.ts';
import { sentryTarget } from './sentry.ts';
import { slackTarget } from './slack.ts';
import type { TargetDefinition } from './target.ts';
import { teamsTarget } from './teams.ts';
import { telegramTarget } from './telegram.ts';
import { webhookTarget } from './webhook.ts';
import { zulipTarget } from './zulip.ts';

/**
 * Every target type Shipcast knows (their code; the config schemas are in `schemas.ts`, out of the function
 * bundles). Adding one is its file, one line here and its schema in `TARGET_CONFIG_SCHEMAS`.
 */
export const TARGETS = [
  webhookTarget,
  logTarget,
  githubDeploymentTarget,
  githubStatusTarget,
  bigpandaTarget,
  teamsTarget,
  googleChatTarget,
  discordTarget,
  slackTarget,
  mattermostTarget,
  telegramTarget,
  zulipTarget,
  pagerdutyTarget,
  grafanaTarget,
  datadogTarget,
  sentryTarget,
  eventbridgeTarget,
  honeycombTarget,
  pushoverTarget,
  gerritTarget,
  emailTarget,
  githubCommentTarget,
  gitlabStatusTarget,
  gitlabCommentTarget,
  bitbucketStatusTarget,
  bitbucketCommentTarget,
  newrelicTarget,
  jiraTarget,
] as const satisfies readonly TargetDefinition[];

/** Looks a target type up by name. */
export function targetDefinition(type: string): TargetDefinition | undefined {
  return TARGETS.find((target) => target.type === type) as TargetDefinition | undefined;
}
