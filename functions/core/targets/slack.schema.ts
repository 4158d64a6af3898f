import * as z from 'zod';
import { httpUrlField, secretNameField, templateField, timeoutMsField } from './fields.schema.ts';
import { inferSlackMode, SLACK_DEFAULT_BASE_URL } from './slack-mode.ts';

/** A Slack user id (`U0123ABCD`, or `W…` on Enterprise Grid). */
const slackUserId = z
  .string()
  .regex(
    /^[UW][A-Z0-9]{2,20}$/,
    'a Slack user id such as U0123ABCD (profile → ⋮ → Copy member ID), not a name',
  );

/** A Slack user group id (`S0123ABCD`). */
const slackUserGroupId = z
  .string()
  .regex(/^S[A-Z0-9]{2,20}$/, 'a Slack user group id such as S0123ABCD (not its @handle)');

/** Who may press the Stop buttons: user ids and/or user group ids (members resolved with usergroups.users.list). */
const stopActionSchema = z
  .object({
    /** Slack user ids allowed to stop a deployment. */
    allowedUsers: z.array(slackUserId).max(500).default([]),
    /** Slack user group ids whose members may stop a deployment (the bot token needs `usergroups:read`). */
    allowedUserGroups: z.array(slackUserGroupId).max(50).default([]),
  })
  .strict()
  .refine((stop) => stop.allowedUsers.length + stop.allowedUserGroups.length > 0, {
    message:
      'name who may stop deployments: allowedUsers (U…) and/or allowedUserGroups (S…); nobody else can press the buttons',
  });

/** Buttons on the living message of a CodeDeploy deployment in progress (bot mode). */
const slackActionsSchema = z
  .object({
    /** Secret holding the Slack app's signing secret (Basic Information → App Credentials): interaction requests are verified with it. */
    signingSecret: secretNameField(),
    /** "Stop" and "Stop and roll back" (CodeDeploy StopDeployment), for the users and groups listed. */
    stop: stopActionSchema,
  })
  .strict();

/** The `slack` target's config: a bot token and a channel (one living message), or an incoming webhook. */
export const slackConfigSchema = z
  .object({
    type: z.literal('slack'),
    /** `bot`: chat.postMessage then chat.update of one message; `webhook`: an incoming webhook. Inferred when unset. */
    mode: z.enum(['bot', 'webhook']).optional(),
    /** Secret holding the bot token (`xoxb-…`, scope chat:write). */
    token: secretNameField().optional(),
    /** Channel ID (`C0123456789`) or name the bot posts to (bot mode; the bot must be in it). */
    channel: z.string().min(1).max(80).optional(),
    /** Secret holding the incoming webhook URL (webhook mode): the URL is a credential. */
    webhookUrl: secretNameField().optional(),
    /** Bot mode: reply in the message's thread with the error of a failed deployment (once per deployment). */
    threadDetails: z.boolean().default(true),
    /** Web API base URL (tests, proxies). */
    baseUrl: httpUrlField().default(SLACK_DEFAULT_BASE_URL),
    /** Title and text templates (a route's `message` wins). */
    message: z
      .object({ title: templateField().optional(), text: templateField().optional() })
      .strict()
      .optional(),
    /**
     * Bot mode: "Stop" and "Stop and roll back" buttons on the message of a CodeDeploy deployment in progress,
     * answered at `POST /v1/hooks/slack/interactions` (docs/targets/slack.md). Off when unset.
     */
    actions: slackActionsSchema.optional(),
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
      if (config.actions)
        ctx.addIssue({
          code: 'custom',
          path: ['actions'],
          message:
            'buttons need the living message of bot mode (an incoming webhook message cannot be updated); use token + channel',
        });
    }
  });
export type SlackConfig = z.infer<typeof slackConfigSchema>;
