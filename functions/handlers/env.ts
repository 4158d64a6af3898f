/**
 * Environment variables the Lambda functions read. The CDK construct sets them; local mode sets
 * the same names. None of them ever holds a secret value: secrets are referenced by name.
 */
export const ENV = {
  table: 'SHIPCAST_TABLE',
  dispatchQueueUrl: 'SHIPCAST_DISPATCH_QUEUE_URL',
  /** API only: the ingest queue, which verified SNS HTTP(S) notifications are forwarded to. */
  ingestQueueUrl: 'SHIPCAST_INGEST_QUEUE_URL',
  dispatchDlqUrl: 'SHIPCAST_DISPATCH_DLQ_URL',
  /** Prefix of secret names in Secrets Manager (`shipcast/<stack>/`); a config secret `api-token` is `<prefix>api-token`. */
  secretPrefix: 'SHIPCAST_SECRET_PREFIX',
  /** The `service` dimension of the metrics (`shipcast/<stack>`), so two deployments in one account never mix. */
  metricsService: 'SHIPCAST_METRICS_SERVICE',
  /** Ingest only: the account the function runs in; events of other accounts are enriched with a member role. */
  account: 'SHIPCAST_ACCOUNT_ID',
  /** Ingest only: the partition (`aws`, `aws-cn`, …) member role ARNs are in. */
  partition: 'SHIPCAST_PARTITION',
  /** Config JSON; in Lambda esbuild replaces `process.env.SHIPCAST_CONFIG_JSON` with the validated config at synth. */
  configJson: 'SHIPCAST_CONFIG_JSON',
  /**
   * API only, set when operators may stop deployments (a Slack target's `actions`, the construct's
   * `stopDeployments`): the account whose CodeDeploy deployments the function may stop (its own).
   */
  stopAccount: 'SHIPCAST_STOP_ACCOUNT',
} as const;
