#!/usr/bin/env -S npx tsx
import { SQSClient } from '@aws-sdk/client-sqs';
import { DEFAULT_NAMES } from '../functions/local/provision.ts';
import { redrive } from '../functions/ops/redrive.ts';

const USAGE = `Usage:
  shipcast redrive --dlq-url <url> --queue-url <url> [--endpoint <url>] [--region <region>] [--max <n>]
  shipcast redrive --local [--queue dispatch|ingest]      (npm start's emulator on 127.0.0.1:\${SHIPCAST_QUEUE_PORT:-8788})

Moves dead-lettered messages back to their queue. Safe to repeat: a transition already delivered
to a target is never sent to it again.`;

/** The operator's command line: `npm run redrive -- …` or `npx tsx bin/shipcast-cli.ts redrive …`. */
async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
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
