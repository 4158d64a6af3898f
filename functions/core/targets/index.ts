import { bigpandaTarget } from './bigpanda.ts';
import { discordTarget } from './discord.ts';
import { eventbridgeTarget } from './eventbridge.ts';
import { githubDeploymentTarget } from './github-deployment.ts';
import { githubStatusTarget } from './github-status.ts';
import { googleChatTarget } from './google-chat.ts';
import { honeycombTarget } from './honeycomb.ts';
import { jiraTarget } from './jira.ts';
import { logTarget } from './log.ts';
import { mattermostTarget } from './mattermost.ts';
import { newrelicTarget } from './newrelic.ts';
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
  eventbridgeTarget,
  honeycombTarget,
  newrelicTarget,
  jiraTarget,
] as const satisfies readonly TargetDefinition[];

/** Looks a target type up by name. */
export function targetDefinition(type: string): TargetDefinition | undefined {
  return TARGETS.find((target) => target.type === type) as TargetDefinition | undefined;
}
