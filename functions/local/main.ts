import { configPath, loadConfigFile } from '../core/config.ts';
import { ConfigError } from '../core/errors.ts';
import { startLocal } from './local-shipcast.ts';

/** `npm start`: Shipcast on this machine with no AWS account. */
async function main() {
  const env = process.env;
  // EMF metrics are for CloudWatch; locally they would only flood the terminal.
  env.SHIPCAST_METRICS ??= 'off';
  const path = configPath(env);
  const config = loadConfigFile(path);
  const port = Number(env.PORT ?? 8787);
  const local = await startLocal({
    config,
    dataDir: env.SHIPCAST_DATA_DIR ?? '.shipcast',
    port,
    queuePort: Number(env.SHIPCAST_QUEUE_PORT ?? port + 1),
    codeDeployEndpoint: env.SHIPCAST_CODEDEPLOY_ENDPOINT,
    eventBridgeEndpoint: env.SHIPCAST_EVENTBRIDGE_ENDPOINT,
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
    `  AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local aws sns publish --region us-east-1 \\`,
    `    --endpoint-url ${sqsSnsEndpoint} --topic-arn ${resources.topicArn} \\`,
    `    --message file://test/fixtures/codedeploy/deployment-succeeded.real.message.json`,
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
