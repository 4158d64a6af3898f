import { type SlackServer, startSlackServer } from './slack-server.ts';

/**
 * The local stand-in for Mattermost's incoming webhooks (`POST /hooks/<key>`, answered `200 ok` as text, like
 * Slack's): the Slack stand-in's webhook half, with no bot token and no channel.
 */
export type MattermostServer = SlackServer;

/** Starts the Mattermost stand-in on 127.0.0.1. */
export function startMattermostServer(): Promise<MattermostServer> {
  return startSlackServer({ tokens: [], channels: {} });
}
