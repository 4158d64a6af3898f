import { configPath, loadConfigFile } from '../core/config.ts';
import { ConfigError } from '../core/errors.ts';
import { startLocal } from './local-shipcast.ts';

/** `npm start`: Shipcast on this machine with no AWS account. */
async function main() {
  const env = process.env;
  // EMF metrics are for CloudWatch; locally they would only flood the terminal.
  env.SHIPCAST_METRICS ??= 'off';
  // Node 20 is what the dev machines run (Lambda runs 22): the SDK's notice about its 2027 releases is noise here.
  env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const path = configPath(env);
  const config = loadConfigFile(path);
  const port = Number(env.PORT ?? 8787);
  const local = await startLocal({
    config,
    dataDir: env.SHIPCAST_DATA_DIR ?? '.shipcast',
    port,
    queuePort: Number(env.SHIPCAST_QUEUE_PORT ?? port + 1),
    codeDeployEndpoint: env.SHIPCAST_CODEDEPLOY_ENDPOINT,
    codeDeployAccounts: env.SHIPCAST_CODEDEPLOY_ACCOUNTS?.split(',').filter(Boolean),
    eventBridgeEndpoint: env.SHIPCAST_EVENTBRIDGE_ENDPOINT,
    // Enrichment of other accounts' deployments through an STS stand-in (docs/organizations.md).
    memberAccounts:
      env.SHIPCAST_ACCOUNT_ID && env.SHIPCAST_STS_ENDPOINT
        ? { ownAccount: env.SHIPCAST_ACCOUNT_ID, stsEndpoint: env.SHIPCAST_STS_ENDPOINT }
        : undefined,
  });
  const { apiUrl, token, resources, sqsSnsEndpoint } = local;
  const lines = [
    '',
    `Shipcast is running locally (config: ${path}, data: ${env.SHIPCAST_DATA_DIR ?? '.shipcast'})`,
    '',
    `  API          ${apiUrl}   (OpenAPI: ${apiUrl}/v1/openapi.json)`,
    `  Dev token    ${token}   (from ${local.tokenOrigin})`,
    `  SNS/SQS      ${sqsSnsEndpoint}`,
    `  Topic ARN    ${resources.topicArn}`,
    '',
    'Post an event:',
    `  curl -s -X POST ${apiUrl}/v1/events -H 'authorization: Bearer ${token}' -H 'content-type: application/json' \\`,
    `    -d '{"service":"checkout","environment":"production","status":"in_progress","version":"1.4.2"}'`,
    '',
    'Publish a CodeDeploy trigger message exactly as CodeDeploy would:',
    `  ${port === 8787 ? '' : `PORT=${port} `}npx shipcast publish-trigger test/fixtures/codedeploy/deployment-succeeded.real.message.json --local`,
    '',
    'Ctrl-C stops everything; data is kept for the next start.',
    '',
  ];
  process.stdout.write(`${lines.join('\n')}\n`);

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    process.stdout.write(`\n${signal}: stopping Shipcast…\n`);
    await local.stop();
    process.stdout.write('stopped.\n');
    process.exit(0);
  };
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
}

main().catch((error: unknown) => {
  if (error instanceof ConfigError) {
    process.stderr.write(`${error.message}\n`);
  } else {
    process.stderr.write(
      `Shipcast could not start: ${error instanceof Error ? error.message : String(error)}\n`,
    );
  }
  process.exit(1);
});
