import type { TargetDefinition } from './target.ts';

/**
 * Each target type's module, loaded on the type's first send. One line per type in `TARGETS` (index.ts), with
 * the specifier `../targets/<type>.ts`: the construct leaves the modules of the types a config does not use out
 * of the dispatcher's bundle by marking exactly these specifiers external (esbuild matches an external on the
 * specifier as written, so a module another target imports statically with `./<file>.ts` stays in).
 * test/unit/function-bundles.test.ts checks that the two lists agree.
 */
export const TARGET_LOADERS: Readonly<Record<string, () => Promise<TargetDefinition>>> = {
  webhook: () => import('../targets/webhook.ts').then((m) => m.webhookTarget),
  log: () => import('../targets/log.ts').then((m) => m.logTarget),
  'github-deployment': () => import('../targets/github-deployment.ts').then((m) => m.githubDeploymentTarget),
  'github-status': () => import('../targets/github-status.ts').then((m) => m.githubStatusTarget),
  bigpanda: () => import('../targets/bigpanda.ts').then((m) => m.bigpandaTarget),
  teams: () => import('../targets/teams.ts').then((m) => m.teamsTarget),
  'google-chat': () => import('../targets/google-chat.ts').then((m) => m.googleChatTarget),
  discord: () => import('../targets/discord.ts').then((m) => m.discordTarget),
  slack: () => import('../targets/slack.ts').then((m) => m.slackTarget),
  mattermost: () => import('../targets/mattermost.ts').then((m) => m.mattermostTarget),
  telegram: () => import('../targets/telegram.ts').then((m) => m.telegramTarget),
  zulip: () => import('../targets/zulip.ts').then((m) => m.zulipTarget),
  pagerduty: () => import('../targets/pagerduty.ts').then((m) => m.pagerdutyTarget),
  grafana: () => import('../targets/grafana.ts').then((m) => m.grafanaTarget),
  datadog: () => import('../targets/datadog.ts').then((m) => m.datadogTarget),
  sentry: () => import('../targets/sentry.ts').then((m) => m.sentryTarget),
  eventbridge: () => import('../targets/eventbridge.ts').then((m) => m.eventbridgeTarget),
  honeycomb: () => import('../targets/honeycomb.ts').then((m) => m.honeycombTarget),
  pushover: () => import('../targets/pushover.ts').then((m) => m.pushoverTarget),
  gerrit: () => import('../targets/gerrit.ts').then((m) => m.gerritTarget),
  email: () => import('../targets/email.ts').then((m) => m.emailTarget),
  'github-comment': () => import('../targets/github-comment.ts').then((m) => m.githubCommentTarget),
  'gitlab-status': () => import('../targets/gitlab-status.ts').then((m) => m.gitlabStatusTarget),
  'gitlab-comment': () => import('../targets/gitlab-comment.ts').then((m) => m.gitlabCommentTarget),
  'bitbucket-status': () => import('../targets/bitbucket-status.ts').then((m) => m.bitbucketStatusTarget),
  'bitbucket-comment': () => import('../targets/bitbucket-comment.ts').then((m) => m.bitbucketCommentTarget),
  newrelic: () => import('../targets/newrelic.ts').then((m) => m.newrelicTarget),
  jira: () => import('../targets/jira.ts').then((m) => m.jiraTarget),
};

/** The specifier `TARGET_LOADERS` imports a type's module with (what the construct marks external). */
export function targetModuleSpecifier(type: string): string {
  return `../targets/${type}.ts`;
}

/** What the dispatcher needs of a target: its type and a `send` that loads its module on first use. */
export type DispatchTarget = Pick<TargetDefinition, 'type' | 'send'>;

/**
 * The dispatcher's registry: a configured type's module is in the bundle, and evaluated on its first send (no
 * file read); an unconfigured type's `import()` never runs.
 */
export const DISPATCH_TARGETS: readonly DispatchTarget[] = Object.entries(TARGET_LOADERS).map(
  ([type, load]) => {
    let loaded: Promise<TargetDefinition> | undefined;
    return {
      type,
      send: async (notification, context) => {
        loaded ??= load();
        return (await loaded).send(notification, context);
      },
    };
  },
);
