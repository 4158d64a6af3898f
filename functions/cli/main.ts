/**
 * The `shipcast` command line: CI steps (`notify`, `wait`), reading deployments, CodeDeploy wiring and
 * operations, redrive. `run` takes everything from its context, so tests drive it in-process.
 */
import { readFileSync } from 'node:fs';
import { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { CodeDeployClient } from '@aws-sdk/client-codedeploy';
import { SNSClient } from '@aws-sdk/client-sns';
import { SQSClient } from '@aws-sdk/client-sqs';
import { DEFAULT_NAMES } from '../local/provision.ts';
import { publishTrigger } from '../ops/publish-trigger.ts';
import { redrive } from '../ops/redrive.ts';
import { ApiError, ApiUnavailableError } from './api-client.ts';
import { flag, parseArgs, UsageError } from './args.ts';
import { type AwsClients, codedeploy } from './codedeploy.ts';
import { type CliContext, EXIT } from './context.ts';
import { deployments, notify, wait } from './deployments.ts';
import { dora } from './dora.ts';

const GLOBAL = `Global flags: --url <api url> (or SHIPCAST_URL), --token <token> (or SHIPCAST_TOKEN), --json, --help.
Exit codes: 0 done; 1 failed (wait: the deployment failed); 2 wait: the deployment was stopped;
64 bad usage or missing URL/token; 69 Shipcast unreachable after retries; 124 --timeout ran out.`;

const HELP: Record<string, string> = {
  '': `shipcast — record deployments and follow them from CI and the terminal

Commands:
  notify             record a deployment event from CI (fills in the CI's own variables)
  wait               block until a deployment ends; exit 0 succeeded, 1 failed, 2 stopped, 124 timeout
  deployments        list | show deployments
  dora               the five DORA metrics of a service/environment over a window, with bands
  codedeploy         connect | disconnect deployment groups, stop (and roll back) a deployment
  publish-trigger    publish a CodeDeploy trigger message to Shipcast's topic (local quick start)
  redrive            move dead-lettered messages back to their queue

Run "shipcast <command> --help" for a command's flags.
${GLOBAL}`,
  notify: `shipcast notify --status <queued|in_progress|succeeded|failed|stopped> [flags]

Records one event with POST /v1/events. Inside GitHub Actions, GitLab CI, Jenkins, CircleCI, Buildkite and
Bitbucket Pipelines the service, repository, commit, ref, actor and run URL come from the CI's variables
(flags win), and the Idempotency-Key is derived from the run attempt and the event, so a step that runs
again records nothing twice. Retries 429, 5xx and network errors with backoff.

  --service, --environment (required outside CI), --version, --commit, --repository, --ref, --actor,
  --url, --description, --host (repeatable), --timestamp <ISO 8601>, --deployment-id <your id or dep_…>,
  --idempotency-key <key>, --no-ci (ignore the CI's variables)

DORA inputs (docs/dora.md): --commit-time <ISO 8601> (when --commit was made), --commits sha=time,…
and --commit-at sha=time (repeatable): the commits this deployment brings, for the change lead time;
--hotfix: the deployment fixes a failure (counts as rework).`,
  wait: `shipcast wait <deployment-id> | --service S --environment E [--version V] [--timeout 30m] [--interval 5s]

Blocks until the deployment ends, printing each transition on stderr as it happens.
Exit 0 succeeded, 1 failed, 2 stopped, 124 timed out.`,
  deployments: `shipcast deployments list [--service S] [--environment E] [--limit N] [--cursor C]
shipcast deployments show <deployment-id>`,
  dora: `shipcast dora [--service S[,S…]] [--environment E] [--from T] [--to T] [--interval week|month]

The five DORA metrics (deployment frequency, change lead time, change fail rate, recovery time, rework
rate) with their bands and what each is based on, then one line per week or month. Reads
GET /v1/metrics/dora (token scope metrics:read). --from/--to: a date (2026-03-01, midnight UTC) or an
ISO 8601 date-time; default the 28 days before now. No --service: every service. docs/dora.md defines
every number.`,
  codedeploy: `shipcast codedeploy connect --application A (--group G ... | --all-groups) [--events E,...] [--dry-run]
shipcast codedeploy disconnect --application A (--group G ... | --all-groups) [--dry-run]
shipcast codedeploy stop <d-XXXXXXXXX | dep_…> [--rollback] [--actor NAME] [--account ID] [--timeout 10m]

connect adds a trigger to Shipcast's topic next to the group's other triggers (it never drops or changes
another one) and is idempotent; disconnect removes only Shipcast's. The topic ARN comes from --topic-arn,
SHIPCAST_TOPIC_ARN, or the CodeDeployTopicArn output of --stack (default Shipcast). Default events: the
deployment events; add Instance* events with --events. stop calls StopDeployment (with
autoRollbackEnabled for --rollback) with your AWS credentials, records the stop in the deployment's
history in Shipcast with who asked (--actor, else SHIPCAST_ACTOR, else your user name; needs the dep_ id,
or --account with a d- id), and follows the deployment until CodeDeploy reports it ended
(exit 0 stopped, 1 it ended otherwise). AWS credentials and region come from the usual chain
(--region, --endpoint to override).`,
  'publish-trigger': `shipcast publish-trigger <message.json> (--local | --topic-arn <arn>) [--region R] [--endpoint URL]

Publishes a CodeDeploy trigger message exactly as CodeDeploy does, after checking Shipcast accepts it.
--local targets npm start's emulator on 127.0.0.1:\${SHIPCAST_QUEUE_PORT:-PORT+1}.`,
  redrive: `shipcast redrive --dlq-url <url> --queue-url <url> [--endpoint <url>] [--region <region>] [--max <n>]
shipcast redrive --local [--queue dispatch|ingest]

Moves dead-lettered messages back to their queue. Safe to repeat: a transition already delivered to a
target is never sent to it again. Exit 1 when messages were left in the DLQ.`,
};

/** The real AWS clients (credentials and region from the usual chain). */
export const realAws: AwsClients = {
  codeDeploy: ({ region, endpoint }) => new CodeDeployClient({ region, endpoint }),
  cloudFormation: ({ region }) => new CloudFormationClient({ region }),
};

/** Runs one command line; returns the exit code. Errors are printed as one line saying what to do. */
export async function run(argv: string[], context: CliContext, aws: AwsClients = realAws): Promise<number> {
  // Global flags may come anywhere; take them out first.
  const args: string[] = [];
  let help = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--json') context.json = true;
    else if (arg === '--help' || arg === '-h') help = true;
    else if (arg === '--url' || arg === '--token') {
      const value = argv[++i];
      if (value === undefined) return fail(context, new UsageError(`${arg} needs a value`));
      context[arg === '--url' ? 'url' : 'token'] = value;
    } else if (arg.startsWith('--url=')) context.url = arg.slice(6);
    else if (arg.startsWith('--token=')) context.token = arg.slice(8);
    else args.push(arg);
  }
  const [command = '', ...rest] = args;
  if (help || command === '' || command === 'help') {
    const topic = command === 'help' ? (rest[0] ?? '') : command;
    context.out.stdout(`${HELP[topic] ?? HELP['']}\n${topic ? `\n${GLOBAL}\n` : ''}`);
    return HELP[topic] === undefined ? EXIT.usage : EXIT.ok;
  }
  try {
    switch (command) {
      case 'notify':
        return await notify(rest, context);
      case 'wait':
        return await wait(rest, context);
      case 'deployments':
        return await deployments(rest, context);
      case 'dora':
        return await dora(rest, context);
      case 'codedeploy':
        return await codedeploy(rest, context, aws);
      case 'publish-trigger':
        return await publishTriggerCommand(rest, context);
      case 'redrive':
        return await redriveCommand(rest, context);
      default:
        throw new UsageError(`unknown command "${command}"; run shipcast --help`);
    }
  } catch (error) {
    return fail(context, error);
  }
}

function fail(context: CliContext, error: unknown): number {
  const message = error instanceof Error ? error.message : String(error);
  context.out.stderr(`shipcast: ${message}\n`);
  if (error instanceof UsageError) return EXIT.usage;
  if (error instanceof ApiUnavailableError) return EXIT.unavailable;
  if (error instanceof ApiError) return EXIT.failed;
  return EXIT.failed;
}

function localEndpoint(env: CliContext['env']): string {
  const port = Number(env.SHIPCAST_QUEUE_PORT ?? Number(env.PORT ?? 8787) + 1);
  return `http://127.0.0.1:${port}`;
}

async function publishTriggerCommand(args: string[], context: CliContext): Promise<number> {
  const parsed = parseArgs(args, { values: ['topic-arn', 'endpoint', 'region'], booleans: ['local'] });
  const [file, extra] = parsed.positionals;
  if (!file || extra) throw new UsageError(HELP['publish-trigger']!.split('\n')[0]!);
  const local = parsed.booleans.has('local');
  let endpoint = flag(parsed, 'endpoint');
  let region = flag(parsed, 'region');
  let topicArn = flag(parsed, 'topic-arn');
  if (local) {
    endpoint ??= localEndpoint(context.env);
    region ??= 'us-east-1';
    topicArn ??= `arn:aws:sns:${region}:000000000000:${DEFAULT_NAMES.topic}`;
  }
  if (!topicArn)
    throw new UsageError('say where to publish: --local (npm start) or --topic-arn <CodeDeployTopicArn>');
  let message: string;
  try {
    message = readFileSync(file, 'utf8');
  } catch (error) {
    throw new UsageError(
      `cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
    );
  }
  const sns = new SNSClient({
    region: region ?? context.env.AWS_REGION,
    endpoint,
    ...(local ? { credentials: { accessKeyId: 'local', secretAccessKey: 'local' } } : {}),
  });
  try {
    const published = await publishTrigger(sns, { topicArn, message, where: file });
    if (context.json) context.out.stdout(`${JSON.stringify(published)}\n`);
    else {
      context.out.stdout(
        `published ${published.status} of ${published.service} → ${published.environment} (SNS message ${published.messageId})\n`,
      );
    }
    return EXIT.ok;
  } finally {
    sns.destroy();
  }
}

async function redriveCommand(args: string[], context: CliContext): Promise<number> {
  const parsed = parseArgs(args, {
    values: ['dlq-url', 'queue-url', 'endpoint', 'region', 'max', 'queue'],
    booleans: ['local'],
  });
  let dlqUrl = flag(parsed, 'dlq-url');
  let queueUrl = flag(parsed, 'queue-url');
  let endpoint = flag(parsed, 'endpoint');
  let region = flag(parsed, 'region');
  const local = parsed.booleans.has('local');
  if (local) {
    endpoint ??= localEndpoint(context.env);
    const queue = flag(parsed, 'queue') ?? 'dispatch';
    if (queue !== 'dispatch' && queue !== 'ingest')
      throw new UsageError('--queue must be dispatch or ingest');
    // As local mode provisions them (DEFAULT_NAMES): the dispatch queues are FIFO.
    queueUrl ??= `${endpoint}/000000000000/${queue === 'dispatch' ? DEFAULT_NAMES.dispatchQueue : DEFAULT_NAMES.ingestQueue}`;
    dlqUrl ??= `${endpoint}/000000000000/${queue === 'dispatch' ? DEFAULT_NAMES.dispatchDlq : DEFAULT_NAMES.ingestDlq}`;
    region ??= 'us-east-1';
  }
  if (!dlqUrl || !queueUrl)
    throw new UsageError('give --dlq-url and --queue-url (the stack outputs), or --local');
  const max = flag(parsed, 'max');
  if (max !== undefined && !/^\d+$/.test(max)) throw new UsageError('--max must be a whole number');
  const sqs = new SQSClient({
    region: region ?? context.env.AWS_REGION,
    endpoint,
    ...(local ? { credentials: { accessKeyId: 'local', secretAccessKey: 'local' } } : {}),
  });
  try {
    const result = await redrive(sqs, {
      deadLetterQueueUrl: dlqUrl,
      queueUrl,
      max: max ? Number(max) : undefined,
    });
    if (context.json) context.out.stdout(`${JSON.stringify({ ...result, queueUrl })}\n`);
    else
      context.out.stdout(
        `moved ${result.moved} message(s) back to ${queueUrl}; ${result.failed} left in the DLQ\n`,
      );
    return result.failed > 0 ? EXIT.failed : EXIT.ok;
  } finally {
    sqs.destroy();
  }
}
