/** Which Slack API a config uses and where it is, for the Slack target and its config schema alike (this module imports nothing). */

/** Slack's Web API. */
export const SLACK_DEFAULT_BASE_URL = 'https://slack.com/api';

/** The mode a Slack config without `mode` means, if it is unambiguous. */
export function inferSlackMode(config: {
  token?: string;
  webhookUrl?: string;
}): 'bot' | 'webhook' | undefined {
  if (config.token && !config.webhookUrl) return 'bot';
  if (config.webhookUrl && !config.token) return 'webhook';
  return undefined;
}
