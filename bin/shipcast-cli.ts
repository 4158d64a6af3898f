#!/usr/bin/env -S npx tsx
import { readFileSync } from 'node:fs';
import { SNSClient } from '@aws-sdk/client-sns';
import { SQSClient } from '@aws-sdk/client-sqs';
import { DEFAULT_NAMES } from '../functions/local/provision.ts';
import { publishTrigger } from '../functions/ops/publish-trigger.ts';
import { redrive } from '../functions/ops/redrive.ts';

const USAGE = `Usage:
  shipcast redrive --dlq-url <url> --queue-url <url> [--endpoint <url>] [--region <region>] [--max <n>]
  shipcast redrive --local [--queue dispatch|ingest]      (npm start's emulator on 127.0.0.1:\${SHIPCAST_QUEUE_PORT:-8788})
  shipcast publish-trigger <message.json> --local | --topic-arn <arn> [--region <region>]

redrive: moves dead-lettered messages back to their queue. Safe to repeat: a transition already
delivered to a target is never sent to it again.
publish-trigger: publishes a CodeDeploy trigger message to Shipcast's topic exactly as CodeDeploy does
(after checking Shipcast accepts it), e.g. test/fixtures/codedeploy/deployment-succeeded.real.message.json.

Exit codes: 0 done, 1 partly done (messages left in the DLQ), 2 bad usage or input.`;

/** The operator's command line: `npm run redrive -- …` or `npx tsx bin/shipcast-cli.ts redrive …`. */
async function main(argv: string[]): Promise<number> {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const [command, ...rest] = argv;
  if (command === 'publish-trigger') return publishTriggerCommand(rest);
  if (command !== 'redrive') {
    process.stderr.write(`${USAGE}\n`);
    return command === undefined || command === '--help' ? 0 : 2;
  }
  const flags = parseFlags(rest);
  let { 'dlq-url': dlqUrl, 'queue-url': queueUrl, endpoint, region } = flags;
  if (flags.local !== undefined) {
    const port = Number(process.env.SHIPCAST_QUEUE_PORT ?? Number(process.env.PORT ?? 8787) + 1);
    endpoint ??= `http://127.0.0.1:${port}`;
    const queue = flags.queue ?? 'dispatch';
    if (queue !== 'dispatch' && queue !== 'ingest') throw new Error('--queue must be dispatch or ingest');
    // As local mode provisions them (DEFAULT_NAMES): the dispatch queues are FIFO.
    const queueName = queue === 'dispatch' ? DEFAULT_NAMES.dispatchQueue : DEFAULT_NAMES.ingestQueue;
    const dlqName = queue === 'dispatch' ? DEFAULT_NAMES.dispatchDlq : DEFAULT_NAMES.ingestDlq;
    queueUrl ??= `${endpoint}/000000000000/${queueName}`;
    dlqUrl ??= `${endpoint}/000000000000/${dlqName}`;
    region ??= 'us-east-1';
  }
  if (!dlqUrl || !queueUrl) {
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }
  const local = flags.local !== undefined;
  const sqs = new SQSClient({
    region: region ?? process.env.AWS_REGION,
    endpoint,
    ...(local ? { credentials: { accessKeyId: 'local', secretAccessKey: 'local' } } : {}),
  });
  try {
    const result = await redrive(sqs, {
      deadLetterQueueUrl: dlqUrl,
      queueUrl,
      max: flags.max ? Number(flags.max) : undefined,
    });
    process.stdout.write(
      `moved ${result.moved} message(s) back to ${queueUrl}; ${result.failed} left in the DLQ\n`,
    );
    return result.failed > 0 ? 1 : 0;
  } finally {
    sqs.destroy();
  }
}

/** `shipcast publish-trigger <file> --local | --topic-arn <arn>`. */
async function publishTriggerCommand(args: string[]): Promise<number> {
  const [file, ...rest] = args;
  if (!file || file.startsWith('--')) {
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }
  const flags = parseFlags(rest);
  const local = flags.local !== undefined;
  let { 'topic-arn': topicArn, endpoint, region } = flags;
  if (local) {
    const port = Number(process.env.SHIPCAST_QUEUE_PORT ?? Number(process.env.PORT ?? 8787) + 1);
    endpoint ??= `http://127.0.0.1:${port}`;
    region ??= 'us-east-1';
    topicArn ??= `arn:aws:sns:${region}:000000000000:${DEFAULT_NAMES.topic}`;
  }
  if (!topicArn)
    throw new Error('say where to publish: --local (npm start) or --topic-arn <CodeDeployTopicArn>');
  let message: string;
  try {
    message = readFileSync(file, 'utf8');
  } catch (error) {
    throw new Error(
      `cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
    );
  }
  const sns = new SNSClient({
    region: region ?? process.env.AWS_REGION,
    endpoint,
    ...(local ? { credentials: { accessKeyId: 'local', secretAccessKey: 'local' } } : {}),
  });
  try {
    const published = await publishTrigger(sns, { topicArn, message, where: file });
    process.stdout.write(
      `published ${published.status} of ${published.service} → ${published.environment} (SNS message ${published.messageId})\n`,
    );
    return 0;
  } finally {
    sns.destroy();
  }
}

function parseFlags(args: string[]): Record<string, string | undefined> {
  const flags: Record<string, string | undefined> = {};
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    if (!arg.startsWith('--')) throw new Error(`unexpected argument "${arg}"`);
    const name = arg.slice(2);
    const next = args[i + 1];
    if (name === 'local') flags.local = '';
    else if (next === undefined || next.startsWith('--')) throw new Error(`--${name} needs a value`);
    else {
      flags[name] = next;
      i++;
    }
  }
  return flags;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`shipcast: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(2);
  },
);
