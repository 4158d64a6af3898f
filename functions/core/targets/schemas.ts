import * as z from 'zod';
import { CHAT_PLACEHOLDER_NAMES } from '../chat/template.ts';
import { templateProblems } from '../template.ts';
import { BIGPANDA_DEFAULT_URL, COMPONENT_PLACEHOLDERS, isKnownComponentPlaceholder } from './bigpanda.ts';
import { bitbucketCommentConfigSchema } from './bitbucket-comment.schema.ts';
import { bitbucketStatusConfigSchema } from './bitbucket-status.schema.ts';
import { datadogConfigSchema } from './datadog.schema.ts';
import { emailConfigSchema } from './email.schema.ts';
import { eventbridgeConfigSchema } from './eventbridge.schema.ts';
import {
  httpsOrLoopback,
  httpUrlField,
  secretNameField,
  templateString,
  timeoutMsField,
} from './fields.schema.ts';
import { gerritConfigSchema } from './gerrit.schema.ts';
import { checkGitHubAuth, githubConnectionFields } from './github.schema.ts';
import { githubCommentConfigSchema } from './github-comment.schema.ts';
import { URL_PLACEHOLDERS } from './github-deployment.ts';
import { CONTEXT_PLACEHOLDERS } from './github-status.ts';
import { gitlabCommentConfigSchema } from './gitlab-comment.schema.ts';
import { gitlabStatusConfigSchema } from './gitlab-status.schema.ts';
import { grafanaConfigSchema } from './grafana.schema.ts';
import { honeycombConfigSchema } from './honeycomb.schema.ts';
import { jiraConfigSchema } from './jira.schema.ts';
import { newrelicConfigSchema } from './newrelic.schema.ts';
import { pagerdutyConfigSchema } from './pagerduty.schema.ts';
import { pushoverConfigSchema } from './pushover.schema.ts';
import { sentryConfigSchema } from './sentry.schema.ts';
import { slackConfigSchema } from './slack.schema.ts';
import { TELEGRAM_DEFAULT_URL } from './telegram.ts';
import { ZULIP_DEFAULT_TOPIC } from './zulip.ts';

/**
 * The config schema of every target type, kept apart from the targets' code (`<type>.ts`, registered in
 * `index.ts`): the config is validated once, by `config.ts` at synth or when local mode loads it, and the
 * Lambda functions trust the config baked into them, so no function bundle carries a schema. Adding a
 * target is its schema here (one entry in `TARGET_CONFIG_SCHEMAS`) plus its file and one line in `index.ts`.
 */

// ---------------------------------------------------------------------------------------------------
// Chat templates

/**
 * A logic-less template (`{{service}} {{version}} → {{environment}}`), checked when the config loads:
 * an unknown placeholder is a config error naming it, not a blank at send time.
 */
export const templateSchema = z
  .string()
  .min(1)
  .max(1000)
  .superRefine((template, ctx) => {
    for (const problem of templateProblems(template, CHAT_PLACEHOLDER_NAMES)) {
      ctx.addIssue({ code: 'custom', message: problem });
    }
  });

/** Title and text a route or target may override. */
export const messageTemplatesSchema = z
  .object({ title: templateSchema.optional(), text: templateSchema.optional() })
  .strict()
  .optional();

/** The config field naming the secret that holds a chat webhook URL. */
const webhookUrlSecret = z
  .string()
  .regex(
    /^[A-Za-z0-9_./-]{1,128}$/,
    'the name of the secret holding the webhook URL (letters, digits and _ . / -): a webhook URL is a credential, keep it in the secret, not in the config',
  );

// ---------------------------------------------------------------------------------------------------
// webhook, log

/** How a webhook (or bus) event is written: Shipcast's JSON, a CloudEvent of Shipcast's type, or a CDEvent. */
export const eventFormatFields = {
  /** `shipcast` (default): Shipcast's JSON; `cloudevents`: a CloudEvents 1.0 event; `cdevents`: a CDEvent (v0.5). */
  format: z.enum(['shipcast', 'cloudevents', 'cdevents']).optional(),
  /** CloudEvents over HTTP: `binary` (ce-* headers, the data as body) or `structured` (application/cloudevents+json). */
  mode: z.enum(['binary', 'structured']).optional(),
  /** The CloudEvents `source` (a URI reference); `shipcast` when unset. */
  source: z
    .string()
    .min(1)
    .max(256)
    .regex(/^[^\s]+$/, 'a URI reference without spaces, such as shipcast or /shipcast/production')
    .optional(),
};

/** Refinement: `mode` says how a CloudEvent travels, so it needs a CloudEvents format. */
function checkEventMode(config: { format?: string; mode?: string }, ctx: z.RefinementCtx): void {
  if (config.mode !== undefined && (config.format ?? 'shipcast') === 'shipcast') {
    ctx.addIssue({
      code: 'custom',
      path: ['mode'],
      message: 'mode applies to format "cloudevents" or "cdevents"; set one of them, or remove mode',
    });
  }
}

/** RFC 9110 §5.1: a field name is a token (https://www.rfc-editor.org/rfc/rfc9110#name-field-names). */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,256}$/;
/** RFC 9110 §5.5 field values, limited to printable ASCII (fetch sends bytes; CR/LF would split the header). */
const HEADER_VALUE = /^[\t\x20-\x7e]*$/;
/** Headers Shipcast sets (or fetch manages): a configured one would be dropped or break the request. */
const RESERVED_HEADERS = new Set([
  'content-type',
  'content-length',
  'host',
  'connection',
  'transfer-encoding',
  'shipcast-delivery',
  'shipcast-signature',
]);

export const webhookConfigSchema = z
  .object({
    type: z.literal('webhook'),
    url: httpUrlField(),
    /** Name of the secret holding the HMAC key; without it the body is sent unsigned. */
    secret: z
      .string()
      .regex(/^[A-Za-z0-9_./-]+$/, 'secret names use letters, digits and _ . / -')
      .optional(),
    /**
     * Extra request headers. A value is the text to send, or `{ "secret": "<name>" }` to send a secret's value
     * (resolved at send time, masked in logs): credentials stay out of the config and the function bundles.
     */
    headers: z
      .record(
        z.string(),
        z.union([
          z
            .string()
            .max(8192)
            .regex(
              HEADER_VALUE,
              'a header value is printable ASCII (tab and space allowed), no CR, LF or other control characters; keep credentials in a secret: { "secret": "<name>" }',
            ),
          z.object({ secret: secretNameField() }).strict(),
        ]),
      )
      // Names are checked here, not by the record's key schema, whose error would not say what is wrong.
      .superRefine((headers, ctx) => {
        for (const name of Object.keys(headers)) {
          const message = !HEADER_NAME.test(name)
            ? "a header name is letters, digits and !#$%&'*+-.^_`|~ (RFC 9110 token)"
            : RESERVED_HEADERS.has(name.toLowerCase())
              ? `Shipcast sets this header itself; the names ${[...RESERVED_HEADERS].join(', ')} cannot be configured`
              : undefined;
          if (message) ctx.addIssue({ code: 'custom', path: [name], message });
        }
      })
      .optional(),
    timeoutMs: timeoutMsField(),
    ...eventFormatFields,
  })
  .strict()
  .superRefine(checkEventMode);
export type WebhookConfig = z.infer<typeof webhookConfigSchema>;

export const logConfigSchema = z.object({ type: z.literal('log') }).strict();
export type LogConfig = z.infer<typeof logConfigSchema>;

// ---------------------------------------------------------------------------------------------------
// GitHub (github-deployment, github-status)

export const githubDeploymentConfigSchema = z
  .object({
    type: z.literal('github-deployment'),
    ...githubConnectionFields,
    /** Shipcast environment (exact name or glob) → GitHub environment; unmatched names are used as they are. */
    environments: z.record(z.string().min(1), z.string().min(1).max(255)).optional(),
    task: z.string().min(1).max(255).default('deploy'),
    /** Commit status contexts GitHub must see succeed before it creates the deployment (default: none). */
    requiredContexts: z.array(z.string().min(1)).default([]),
    transientEnvironment: z.boolean().optional(),
    productionEnvironment: z.boolean().optional(),
    /** URL of the deployed environment, e.g. `https://{{environment}}.example.com`. */
    environmentUrl: templateString(URL_PLACEHOLDERS, 'environmentUrl')
      .refine((value) => /^https?:\/\//.test(value), 'environmentUrl must start with http:// or https://')
      .optional(),
    /** On success, let GitHub mark earlier non-production deployments of the environment inactive. */
    autoInactive: z.boolean().default(true),
    /**
     * A deployment that came from GitHub (a `deployment` webhook) already is a GitHub deployment of its
     * repository: it never gets a second one. With this on, its transitions are posted as statuses of that
     * original deployment; off (default), it is left alone.
     */
    statusesOnGitHubDeployments: z.boolean().default(false),
  })
  .strict()
  .superRefine(checkGitHubAuth);
export type GitHubDeploymentConfig = z.infer<typeof githubDeploymentConfigSchema>;

export const githubStatusConfigSchema = z
  .object({
    type: z.literal('github-status'),
    ...githubConnectionFields,
    /** The status's `context`; placeholders `{{service}}` and `{{environment}}`. */
    context: templateString(CONTEXT_PLACEHOLDERS, 'context')
      .refine((value) => value.trim().length > 0, 'context must not be empty')
      .default('shipcast/{{environment}}'),
  })
  .strict()
  .superRefine(checkGitHubAuth);
export type GitHubStatusConfig = z.infer<typeof githubStatusConfigSchema>;

// ---------------------------------------------------------------------------------------------------
// BigPanda

const componentTemplate = z
  .string()
  .min(1)
  .max(256)
  .superRefine((template, ctx) => {
    for (const problem of templateProblems(template, isKnownComponentPlaceholder, COMPONENT_PLACEHOLDERS)) {
      ctx.addIssue({ code: 'custom', message: problem });
    }
  });

export const bigpandaConfigSchema = z
  .object({
    type: z.literal('bigpanda'),
    /** `deployments`: the deployment start/end API (as the Ansible module); `changes`: the Changes API. */
    api: z.enum(['deployments', 'changes']).default('deployments'),
    /** API base URL: the EU region (`https://eu-api.bigpanda.io`) or a proxy, path prefix allowed. */
    url: httpUrlField().default(BIGPANDA_DEFAULT_URL),
    /** Secret holding the bearer token (deployments: the org token; changes: a user API key). */
    token: secretNameField(),
    /** Secret holding the app key sent as `x-bp-app-key` (required for `api: "changes"`). */
    appKey: secretNameField().optional(),
    /** `source_system` of deployment starts, and a tag of changes. */
    sourceSystem: z.string().min(1).max(128).default('shipcast'),
    /** BigPanda component, from the deployment's facts. */
    component: componentTemplate.default('{{service}}'),
    timeoutMs: timeoutMsField(),
  })
  .strict()
  .superRefine((config, ctx) => {
    if (config.api === 'changes' && !config.appKey) {
      ctx.addIssue({
        code: 'custom',
        path: ['appKey'],
        message:
          'required when api is "changes": the name of the secret holding the BigPanda app key (sent as x-bp-app-key)',
      });
    }
  });
export type BigPandaConfig = z.infer<typeof bigpandaConfigSchema>;

// ---------------------------------------------------------------------------------------------------
// Chat: Teams, Google Chat, Discord (incoming webhooks)

/** A chat target reached by an incoming webhook whose URL (it carries the credential) is in a secret. */
const webhookChatSchema = <T extends string>(type: T) =>
  z
    .object({
      type: z.literal(type),
      /** Name of the secret holding the webhook URL. */
      webhookUrl: webhookUrlSecret,
      /** Title/text templates (a route's `message` wins over these). */
      message: messageTemplatesSchema,
      timeoutMs: timeoutMsField(),
    })
    .strict();

/** Teams: a Workflows webhook URL ("When a Teams webhook request is received"). */
export const teamsConfigSchema = webhookChatSchema('teams');
export type TeamsConfig = z.infer<typeof teamsConfigSchema>;

/** Google Chat: the space's incoming-webhook URL (it carries the key and token). */
export const googleChatConfigSchema = webhookChatSchema('google-chat');
export type GoogleChatConfig = z.infer<typeof googleChatConfigSchema>;

/** Discord: `https://discord.com/api/webhooks/<id>/<token>`, `?thread_id=` allowed. */
export const discordConfigSchema = webhookChatSchema('discord');
export type DiscordConfig = z.infer<typeof discordConfigSchema>;

// ---------------------------------------------------------------------------------------------------
// Chat: Slack, Mattermost

const credentialSecret = z
  .string()
  .regex(/^[A-Za-z0-9_./-]{1,128}$/, 'the name of a secret (letters, digits and _ . / -), never its value');

export const mattermostConfigSchema = z
  .object({
    type: z.literal('mattermost'),
    /** Secret holding the incoming webhook URL (`https://mm.example.com/hooks/<key>`): the URL is a credential. */
    webhookUrl: credentialSecret,
    /** Channel name (`town-square`, not the display name) overriding the webhook's own, if the webhook is not locked. */
    channel: z
      .string()
      .regex(/^[a-z0-9_-]{1,64}$/, 'a channel name: lowercase letters, digits, _ and -')
      .optional(),
    /** Overrides the poster's name (the server must allow integrations to override usernames). */
    username: z.string().min(1).max(64).optional(),
    /** Overrides the poster's picture (the server must allow integrations to override profile picture icons). */
    iconUrl: httpUrlField().optional(),
    /** Title and text templates (a route's `message` wins). */
    message: messageTemplatesSchema,
    timeoutMs: timeoutMsField(),
  })
  .strict();
export type MattermostConfig = z.infer<typeof mattermostConfigSchema>;

// ---------------------------------------------------------------------------------------------------
// Chat: Telegram, Zulip

export const telegramConfigSchema = z
  .object({
    type: z.literal('telegram'),
    /** Name of the secret holding the bot token (`123456:ABC…` from @BotFather). */
    token: secretNameField(),
    /** A numeric chat id (groups and channels are negative) or `@channelusername`. */
    chatId: z.union([
      z.number().int(),
      z.string().regex(/^(-?\d{1,20}|@[A-Za-z][A-Za-z0-9_]{3,31})$/, 'a numeric chat id or @channelusername'),
    ]),
    /** Forum topic (message thread) of a supergroup to post in. */
    messageThreadId: z.number().int().positive().optional(),
    /** https, or http to this machine only (a local Bot API server): the bot token travels in the URL path. */
    baseUrl: httpUrlField()
      .refine(httpsOrLoopback, { error: 'must be an https URL (http only for localhost)' })
      .default(TELEGRAM_DEFAULT_URL),
    /** Title/text templates (Telegram HTML allowed in the template text; values are escaped). */
    message: messageTemplatesSchema,
    timeoutMs: timeoutMsField(),
  })
  .strict();
export type TelegramConfig = z.infer<typeof telegramConfigSchema>;

export const zulipConfigSchema = z
  .object({
    type: z.literal('zulip'),
    /** The organization's URL (`https://example.zulipchat.com`); http only for localhost. */
    site: httpUrlField().refine(httpsOrLoopback, { error: 'must be an https URL (http only for localhost)' }),
    /** The bot's email address (the user half of HTTP Basic auth). */
    email: z
      .string()
      .max(254)
      .regex(/^[^\s@:]+@[^\s@:]+$/, "the bot's email address"),
    /** Name of the secret holding the bot's API key. */
    apiKey: secretNameField(),
    /** The channel (stream) to post in, by name. */
    stream: z
      .string()
      .min(1)
      .max(200)
      .regex(/^[^\p{Cc}]+$/u, 'no control characters'),
    /** Topic template; the result is cut to 60 characters. */
    topic: templateSchema.default(ZULIP_DEFAULT_TOPIC),
    /** `stream` works on every Zulip server; `channel` is its newer name (Zulip 9.0+). */
    messageType: z.enum(['stream', 'channel']).default('stream'),
    /** Title/text templates (Zulip Markdown allowed in the template text; values are made inert). */
    message: messageTemplatesSchema,
    timeoutMs: timeoutMsField(),
  })
  .strict();
export type ZulipConfig = z.infer<typeof zulipConfigSchema>;

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
