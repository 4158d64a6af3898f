/**
 * The Lambda bundles `cdk synth` produces, run as Lambda would run them: each `index.mjs` asset (ESM,
 * createRequire banner, config baked in by esbuild `define`, AWS SDK bundled) is imported in a child
 * `node` process with only the environment the template gives the function plus what the Lambda
 * runtime sets, and its bundled AWS SDK is pointed at local emulators with the SDK's
 * `AWS_ENDPOINT_URL_<SERVICE>` variables: DynamoDB Local, fauxqs (SQS), a fake Secrets Manager and a
 * fake CodeDeploy. Same core as local mode; only the adapters differ.
 */
import { spawn } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import {
  GetQueueAttributesCommand,
  type Message,
  ReceiveMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { App } from 'aws-cdk-lib';
import type { LambdaFunctionURLEvent, SQSEvent, SQSRecord } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { DynamoStore } from '../../functions/adapters/aws/dynamo-store.ts';
import { DASHBOARD_CSP } from '../../functions/core/api/dashboard.ts';
import { openApiDocument } from '../../functions/core/api/openapi.ts';
import type { DispatchMessage } from '../../functions/core/schema.ts';
import { parseCodeDeployMessage } from '../../functions/core/sources/codedeploy.ts';
import { unwrapSnsSqsBody } from '../../functions/core/sources/sns.ts';
import { SIGNATURE_HEADER, signWebhook } from '../../functions/core/targets/webhook.ts';
import { readDashboardFiles } from '../../functions/dashboard/files.ts';
import { ENV } from '../../functions/handlers/env.ts';
import { RARE_ROUTES_FILE_NAME } from '../../functions/handlers/rare-routes-file.ts';
import { type ProvisionedResources, provision } from '../../functions/local/provision.ts';
import { type ShipcastConfigInput, ShipcastStack } from '../../lib/index.ts';
import { type CodeDeployServer, startCodeDeployServer } from '../support/codedeploy-server.ts';
import { createTestTable, dynamoClient, startTestSqsSns, type TestSqsSns } from '../support/emulators.ts';
import { type SecretsManagerServer, startSecretsManagerServer } from '../support/secrets-manager-server.ts';
import { startTargetServer, type TargetServer } from '../support/target-server.ts';

const STACK = 'Shipcast';
const REGION = 'us-east-1';
const ACCOUNT = '123456789012';
/** The construct's default secret prefix, `shipcast/<stack name>/`. */
const SECRET_PREFIX = `shipcast/${STACK}/`;
const API_TOKEN = `bundle-api-token-${randomUUID()}`;
const WEBHOOK_KEY = `bundle-webhook-key-${randomUUID()}`;
const FIXTURE_BODY = readFileSync(
  new URL('../fixtures/codedeploy/sns-sqs-body.json', import.meta.url),
  'utf8',
);
/** CodeDeploy's BatchGetDeployments view of the fixture's deployment (wire form: epoch-second times). */
const CODEDEPLOY_INFO = {
  deploymentId: 'd-4F2KQ8ZX1',
  applicationName: 'checkout',
  deploymentGroupName: 'checkout-production',
  status: 'Succeeded',
  creator: 'user',
  description: 'Release 2022.10.13 from the bundle test',
  createTime: 1665676245,
  completeTime: 1665676622,
  computePlatform: 'Server',
  revision: {
    revisionType: 'GitHub',
    gitHubLocation: { repository: 'acme/checkout', commitId: '9fceb02d0ae598e95dc970b74767f19372d61af8' },
  },
};

type FunctionName = 'api' | 'ingest' | 'dispatch';
type Resource = {
  Type: string;
  // biome-ignore lint/suspicious/noExplicitAny: synthesized CloudFormation JSON
  Properties: Record<string, any>;
};
/** What the template says about one function, and where its bundle is. */
interface BundledFunction {
  logicalId: string;
  assetDir: string;
  handler: string;
  timeoutSeconds: number;
  memorySize: number;
  environment: Record<string, string>;
}
/** What one invocation produced: the handler's result (or error) and everything the process printed. */
interface Invocation {
  ok: boolean;
  // biome-ignore lint/suspicious/noExplicitAny: the handler's JSON result, checked by the assertions
  result?: any;
  error?: { name: string; message: string; stack?: string };
  output: string;
}

const workDir = mkdtempSync(join(tmpdir(), 'shipcast-bundles-test-'));
const driverFile = join(workDir, 'driver.mjs');
let invocations = 0;

let target: TargetServer;
let secretsManager: SecretsManagerServer;
let codedeploy: CodeDeployServer;
let queues: TestSqsSns;
let dynamodb: DynamoDBClient;
let store: DynamoStore;
let local: ProvisionedResources;
let functions: Record<FunctionName, BundledFunction>;

beforeAll(async () => {
  // The webhook URL is baked into the bundles, so the target server runs before synth.
  target = await startTargetServer();
  const config = {
    api: { tokens: [{ name: 'ci', secret: 'api-token' }] },
    sources: { codedeploy: { enrich: true } },
    targets: {
      console: { type: 'log' },
      hook: { type: 'webhook', url: `${target.url}/shipcast`, secret: 'webhook-secret' },
    },
    routes: [{ targets: ['console', 'hook'] }],
    dispatch: { maxReceives: 4 },
  } satisfies ShipcastConfigInput;

  const cdkJson = JSON.parse(readFileSync(new URL('../../cdk.json', import.meta.url), 'utf8'));
  const outdir = join(workDir, 'cdk.out');
  const app = new App({ context: cdkJson.context, outdir });
  new ShipcastStack(app, STACK, { config });
  const assembly = app.synth();
  const resources = assembly.getStackByName(STACK).template.Resources as Record<string, Resource>;
  const ofType = (type: string) => Object.entries(resources).filter(([, r]) => r.Type === type);
  const logicalId = (type: string, part: string) => {
    const ids = ofType(type)
      .map(([id]) => id)
      .filter((id) => id.startsWith(`${STACK}${part}`));
    if (ids.length !== 1) throw new Error(`expected one ${type} ${part}, found ${ids.join(', ') || 'none'}`);
    return ids[0]!;
  };

  // Local counterparts of the stack's resources, shaped by the template (visibility, redrive).
  queues = await startTestSqsSns();
  dynamodb = dynamoClient(inject('dynamodbEndpoint'));
  const tableName = await createTestTable(dynamodb);
  const queueProps = (part: string) => resources[logicalId('AWS::SQS::Queue', part)]!.Properties;
  local = await provision({
    dynamodb,
    sqs: queues.sqs,
    sns: queues.sns,
    names: {
      table: tableName,
      topic: 'shipcast-codedeploy',
      ingestQueue: 'shipcast-ingest',
      ingestDlq: 'shipcast-ingest-dlq',
      dispatchQueue: 'shipcast-dispatch',
      dispatchDlq: 'shipcast-dispatch-dlq',
    },
    maxReceives: {
      ingest: queueProps('IngestQueue').RedrivePolicy.maxReceiveCount,
      dispatch: queueProps('DispatchQueue').RedrivePolicy.maxReceiveCount,
    },
    visibilityTimeoutSeconds: {
      ingest: queueProps('IngestQueue').VisibilityTimeout,
      dispatch: queueProps('DispatchQueue').VisibilityTimeout,
    },
  });
  store = new DynamoStore(dynamodb, tableName);
  const localValueOf: Record<string, string> = {
    [logicalId('AWS::DynamoDB::Table', 'Table')]: local.tableName,
    [logicalId('AWS::SQS::Queue', 'DispatchQueue')]: local.dispatchQueueUrl,
    [logicalId('AWS::SQS::Queue', 'DispatchDeadLetterQueue')]: local.dispatchDlqUrl,
    [logicalId('AWS::SQS::Queue', 'IngestQueue')]: local.ingestQueueUrl,
    [logicalId('AWS::SQS::Queue', 'IngestDeadLetterQueue')]: local.ingestDlqUrl,
    // The account of the fixtures' deployments: enriched with the function's own credentials.
    'AWS::AccountId': '123456789012',
    'AWS::Partition': 'aws',
  };

  // Each function's bundle: Code.S3Key → the asset manifest's file asset with that object key → its directory.
  const manifest = JSON.parse(readFileSync(join(assembly.directory, 'manifest.json'), 'utf8'));
  const assetManifestFile = Object.values(
    manifest.artifacts as Record<string, { type: string; properties: { file: string } }>,
  ).find((artifact) => artifact.type === 'cdk:asset-manifest')!.properties.file;
  const assets = JSON.parse(readFileSync(join(assembly.directory, assetManifestFile), 'utf8'))
    .files as Record<
    string,
    { source: { path: string; packaging: string }; destinations: Record<string, { objectKey: string }> }
  >;
  const bundleOf = (name: FunctionName): BundledFunction => {
    const id = logicalId('AWS::Lambda::Function', `${name[0]!.toUpperCase()}${name.slice(1)}Function`);
    const props = resources[id]!.Properties;
    const asset = Object.values(assets).find((a) =>
      Object.values(a.destinations).some((d) => d.objectKey === props.Code.S3Key),
    );
    if (!asset) throw new Error(`no asset with object key ${props.Code.S3Key} for ${id}`);
    expect(asset.source.packaging).toBe('zip');
    const environment = Object.fromEntries(
      Object.entries(props.Environment.Variables as Record<string, unknown>).map(([key, value]) => {
        if (typeof value === 'string') return [key, value];
        const ref = (value as { Ref?: string }).Ref;
        if (ref && ref in localValueOf) return [key, localValueOf[ref]!];
        throw new Error(`${id} environment ${key}: no local value for ${JSON.stringify(value)}`);
      }),
    );
    return {
      logicalId: id,
      assetDir: join(assembly.directory, asset.source.path),
      handler: props.Handler,
      timeoutSeconds: props.Timeout,
      memorySize: props.MemorySize,
      environment,
    };
  };
  functions = { api: bundleOf('api'), ingest: bundleOf('ingest'), dispatch: bundleOf('dispatch') };

  secretsManager = await startSecretsManagerServer({
    // Stored as `--secret-string file://token.txt` stores it, with the file's newline: Shipcast trims it.
    [`${SECRET_PREFIX}api-token`]: `${API_TOKEN}\n`,
    [`${SECRET_PREFIX}webhook-secret`]: WEBHOOK_KEY,
  });
  codedeploy = await startCodeDeployServer([CODEDEPLOY_INFO]);
  writeFileSync(driverFile, DRIVER);
}, 120_000);

afterAll(async () => {
  await target?.stop();
  await secretsManager?.close();
  await codedeploy?.close();
  await queues?.stop();
  dynamodb?.destroy();
  rmSync(workDir, { recursive: true, force: true });
});

/**
 * Runs in the child: loads the handler the way the Lambda Node.js runtime does (`_HANDLER` =
 * `<module>.<export>` in `LAMBDA_TASK_ROOT`), invokes it once with the event file and a Lambda
 * context, writes `{ok, result | error}` to the result file, and exits (Lambda would freeze here;
 * open keep-alive sockets must not keep the process up).
 */
const DRIVER = `
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const [eventFile, resultFile, timeoutSeconds] = process.argv.slice(2);
const finish = (outcome) => {
  writeFileSync(resultFile, JSON.stringify(outcome));
  process.exit(0);
};
try {
  const handlerSpec = process.env._HANDLER;
  const dot = handlerSpec.lastIndexOf('.');
  const base = join(process.env.LAMBDA_TASK_ROOT, handlerSpec.slice(0, dot));
  const file = ['.mjs', '.js', '.cjs'].map((ext) => base + ext).find((f) => existsSync(f));
  if (!file) throw new Error('no module for handler ' + handlerSpec);
  const handler = (await import(pathToFileURL(file).href))[handlerSpec.slice(dot + 1)];
  if (typeof handler !== 'function') throw new Error(handlerSpec + ' is not a function');
  const deadline = Date.now() + Number(timeoutSeconds) * 1000;
  const name = process.env.AWS_LAMBDA_FUNCTION_NAME;
  const context = {
    callbackWaitsForEmptyEventLoop: true,
    functionName: name,
    functionVersion: process.env.AWS_LAMBDA_FUNCTION_VERSION,
    invokedFunctionArn: 'arn:aws:lambda:' + process.env.AWS_REGION + ':${ACCOUNT}:function:' + name,
    memoryLimitInMB: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
    awsRequestId: randomUUID(),
    logGroupName: process.env.AWS_LAMBDA_LOG_GROUP_NAME,
    logStreamName: process.env.AWS_LAMBDA_LOG_STREAM_NAME,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done() {},
    fail() {},
    succeed() {},
  };
  const event = JSON.parse(readFileSync(eventFile, 'utf8'));
  const result = await handler(event, context);
  finish({ ok: true, result: result ?? null });
} catch (error) {
  finish({ ok: false, error: { name: error?.name, message: error?.message ?? String(error), stack: error?.stack } });
}
`;

/**
 * Invokes one bundle in a fresh `node` (a cold start) with only: the template's environment (refs
 * resolved to the local resources), what the Lambda runtime sets, fake credentials, and the SDK's
 * service endpoint variables. Async spawn: the fakes answering it run in this process.
 */
async function invoke(name: FunctionName, event: unknown): Promise<Invocation> {
  const fn = functions[name];
  const n = ++invocations;
  const eventFile = join(workDir, `event-${n}.json`);
  const resultFile = join(workDir, `result-${n}.json`);
  const home = join(workDir, 'home');
  mkdirSync(home, { recursive: true });
  writeFileSync(eventFile, JSON.stringify(event));
  const functionName = `${STACK}-${fn.logicalId}`;
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: home,
    TZ: ':UTC',
    LANG: 'en_US.UTF-8',
    // The Lambda runtime's variables.
    AWS_REGION: REGION,
    AWS_DEFAULT_REGION: REGION,
    AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs22.x',
    AWS_LAMBDA_FUNCTION_NAME: functionName,
    AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(fn.memorySize),
    AWS_LAMBDA_LOG_GROUP_NAME: `/aws/lambda/${functionName}`,
    AWS_LAMBDA_LOG_STREAM_NAME: `2026/03/01/[$LATEST]${randomUUID().replaceAll('-', '')}`,
    LAMBDA_TASK_ROOT: fn.assetDir,
    _HANDLER: fn.handler,
    // Fake credentials; no shared config or credentials files.
    AWS_ACCESS_KEY_ID: 'AKIAIOSFODNN7EXAMPLE',
    AWS_SECRET_ACCESS_KEY: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
    AWS_SESSION_TOKEN: 'test-session-token',
    AWS_CONFIG_FILE: join(home, 'no-aws-config'),
    AWS_SHARED_CREDENTIALS_FILE: join(home, 'no-aws-credentials'),
    // The bundled SDK's clients, pointed at the local emulators.
    AWS_ENDPOINT_URL_DYNAMODB: inject('dynamodbEndpoint'),
    AWS_ENDPOINT_URL_SQS: queues.endpoint,
    AWS_ENDPOINT_URL_SECRETS_MANAGER: secretsManager.endpoint,
    AWS_ENDPOINT_URL_CODEDEPLOY: codedeploy.endpoint,
    ...fn.environment,
  };
  const output = await new Promise<string>((resolve, reject) => {
    const child = spawn(process.execPath, [driverFile, eventFile, resultFile, String(fn.timeoutSeconds)], {
      cwd: fn.assetDir,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let text = '';
    child.stdout.on('data', (chunk: Buffer) => {
      text += chunk.toString('utf8');
    });
    child.stderr.on('data', (chunk: Buffer) => {
      text += chunk.toString('utf8');
    });
    // The function's own timeout, plus the cold start.
    const timer = setTimeout(() => child.kill('SIGKILL'), (fn.timeoutSeconds + 10) * 1000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(text);
      else reject(new Error(`${name} bundle exited with ${signal ?? code}:\n${text}`));
    });
  });
  if (!existsSync(resultFile)) throw new Error(`${name} bundle wrote no result:\n${output}`);
  const invocation = { ...JSON.parse(readFileSync(resultFile, 'utf8')), output } as Invocation;
  // Secret values are masked in everything the function prints.
  expect(output).not.toContain(API_TOKEN);
  expect(output).not.toContain(WEBHOOK_KEY);
  return invocation;
}

/** Invokes and expects the handler to return; the result, with the output shown if it threw. */
async function invokeOk(name: FunctionName, event: unknown) {
  const invocation = await invoke(name, event);
  expect(invocation.error, `${name} threw; its output:\n${invocation.output}`).toBeUndefined();
  expect(invocation.ok).toBe(true);
  return invocation.result;
}

/** A Lambda function URL event (payload format 2.0), as the function URL of the API function sends it. */
function functionUrlEvent(
  method: string,
  path: string,
  { headers = {}, body }: { headers?: Record<string, string>; body?: string } = {},
): LambdaFunctionURLEvent {
  const urlId = 'abcdefghijklmnopqrstuvwxyz012345';
  const domainName = `${urlId}.lambda-url.${REGION}.on.aws`;
  const now = new Date();
  const [queryPath = path, rawQueryString = ''] = path.split('?');
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath: queryPath,
    rawQueryString,
    headers: {
      host: domainName,
      'user-agent': 'curl/8.5.0',
      accept: '*/*',
      'x-amzn-tls-version': 'TLSv1.3',
      'x-amzn-tls-cipher-suite': 'TLS_AES_128_GCM_SHA256',
      'x-amzn-trace-id': `Root=1-${Math.floor(now.getTime() / 1000).toString(16)}-${randomUUID().replaceAll('-', '').slice(0, 24)}`,
      'x-forwarded-proto': 'https',
      'x-forwarded-port': '443',
      'x-forwarded-for': '203.0.113.7',
      ...(body !== undefined ? { 'content-length': String(Buffer.byteLength(body)) } : {}),
      ...headers,
    },
    ...(rawQueryString
      ? { queryStringParameters: Object.fromEntries(new URLSearchParams(rawQueryString)) }
      : {}),
    requestContext: {
      accountId: 'anonymous',
      apiId: urlId,
      domainName,
      domainPrefix: urlId,
      http: {
        method,
        path: queryPath,
        protocol: 'HTTP/1.1',
        sourceIp: '203.0.113.7',
        userAgent: 'curl/8.5.0',
      },
      requestId: randomUUID(),
      routeKey: '$default',
      stage: '$default',
      time: now.toUTCString(),
      timeEpoch: now.getTime(),
    },
    ...(body !== undefined ? { body } : {}),
    isBase64Encoded: false,
  };
}

/** One SQS record as the Lambda event source mapping delivers it. */
function sqsRecord(
  message: { messageId: string; receiptHandle: string; body: string; receiveCount?: string },
  queueName: string,
): SQSRecord {
  const sent = String(Date.now() - 1000);
  return {
    messageId: message.messageId,
    receiptHandle: message.receiptHandle,
    body: message.body,
    attributes: {
      ApproximateReceiveCount: message.receiveCount ?? '1',
      SentTimestamp: sent,
      SenderId: 'AROAEXAMPLEID:sender',
      ApproximateFirstReceiveTimestamp: String(Date.now()),
    },
    messageAttributes: {},
    md5OfBody: createHash('md5').update(message.body).digest('hex'),
    eventSource: 'aws:sqs',
    eventSourceARN: `arn:aws:sqs:${REGION}:${ACCOUNT}:${queueName}`,
    awsRegion: REGION,
  };
}

/** Receives every visible message of a queue (each becomes invisible for the queue's visibility timeout). */
async function receiveAll(sqs: SQSClient, queueUrl: string): Promise<Message[]> {
  const all: Message[] = [];
  for (;;) {
    const { Messages = [] } = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: queueUrl,
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: 0,
        MessageSystemAttributeNames: ['All'],
      }),
    );
    if (Messages.length === 0) return all;
    all.push(...Messages);
  }
}

async function queueDepth(queueUrl: string): Promise<number> {
  const { Attributes } = await queues.sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: queueUrl,
      AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
    }),
  );
  return (
    Number(Attributes?.ApproximateNumberOfMessages ?? 0) +
    Number(Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0)
  );
}

const auth = () => ({ authorization: `Bearer ${API_TOKEN}` });
let versionSeq = 0;

/** POSTs a native event through the api bundle; the parsed 202 body. */
async function postEvent(extra: Record<string, unknown> = {}) {
  const body = JSON.stringify({
    service: 'checkout',
    environment: 'production',
    status: 'started',
    version: `2.0.${++versionSeq}`,
    ...extra,
  });
  const response = await invokeOk(
    'api',
    functionUrlEvent('POST', '/v1/events', {
      headers: { ...auth(), 'content-type': 'application/json' },
      body,
    }),
  );
  expect(response.statusCode, JSON.stringify(response)).toBe(202);
  return JSON.parse(response.body) as { eventId: string; deploymentId: string; status: string };
}

/** The dispatch messages now on the dispatch queue for one deployment (received: invisible afterwards). */
async function dispatchMessagesFor(deploymentId: string) {
  const received = await receiveAll(queues.sqs, local.dispatchQueueUrl);
  return received.filter((m) => (JSON.parse(m.Body!) as DispatchMessage).deploymentId === deploymentId);
}

describe('Lambda bundles from cdk synth', () => {
  it('runs against a Secrets Manager fake that answers like the real service', async () => {
    const client = new SecretsManagerClient({
      region: REGION,
      endpoint: secretsManager.endpoint,
      credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    });
    try {
      const byName = await client.send(new GetSecretValueCommand({ SecretId: `${SECRET_PREFIX}api-token` }));
      expect(byName).toMatchObject({ Name: `${SECRET_PREFIX}api-token`, SecretString: `${API_TOKEN}\n` });
      expect(byName.CreatedDate).toBeInstanceOf(Date);
      const byArn = await client.send(new GetSecretValueCommand({ SecretId: byName.ARN! }));
      expect(byArn.SecretString).toBe(`${API_TOKEN}\n`);
      await expect(
        client.send(new GetSecretValueCommand({ SecretId: `${SECRET_PREFIX}missing` })),
      ).rejects.toMatchObject({
        name: 'ResourceNotFoundException',
        message: "Secrets Manager can't find the specified secret.",
        $metadata: { httpStatusCode: 400 },
      });
    } finally {
      client.destroy();
    }
  });

  it('bakes the config into the bundle and sets the environment the handlers read', () => {
    for (const [name, fn] of Object.entries(functions)) {
      expect(fn.handler).toBe('index.handler');
      expect(existsSync(join(fn.assetDir, 'index.mjs'))).toBe(true);
      const code = readFileSync(join(fn.assetDir, 'index.mjs'), 'utf8');
      expect(code.startsWith("import { createRequire } from 'module';")).toBe(true);
      expect(code).toContain(`${target.url}/shipcast`);
      expect(code).not.toContain(`process.env.${ENV.configJson}`);
      expect(Object.keys(fn.environment).sort()).toEqual(
        [
          ENV.table,
          ENV.dispatchQueueUrl,
          ENV.dispatchDlqUrl,
          ENV.secretPrefix,
          ENV.metricsService,
          // Only the API forwards to the ingest queue (SNS HTTP(S) notifications).
          ...(name === 'api' ? [ENV.ingestQueueUrl] : []),
          // Only ingest enriches deployments of other accounts (with the member accounts' roles).
          ...(name === 'ingest' ? [ENV.account, ENV.partition] : []),
          'NODE_OPTIONS',
        ].sort(),
      );
      expect(fn.environment[ENV.secretPrefix]).toBe(SECRET_PREFIX);
      expect(fn.environment[ENV.metricsService]).toBe(`shipcast/${STACK}`);
    }
  });

  describe('api', () => {
    it('answers GET /healthz with 200', async () => {
      const response = await invokeOk('api', functionUrlEvent('GET', '/healthz'));
      expect(response.statusCode).toBe(200);
      expect(JSON.parse(response.body)).toEqual({ status: 'ok' });
    });

    it('serves the OpenAPI document embedded at synth, equal to the one generated from the schemas', async () => {
      const response = await invokeOk(
        'api',
        functionUrlEvent('GET', '/v1/openapi.json', { headers: auth() }),
      );
      expect(response.statusCode).toBe(200);
      expect(JSON.parse(response.body)).toEqual(openApiDocument());
    });

    it('serves the dashboard files copied next to the bundle at / without a token, under its CSP', async () => {
      const bundle = readFileSync(join(functions.api.assetDir, 'index.mjs'), 'utf8');
      const files = readDashboardFiles();
      expect(readdirSync(join(functions.api.assetDir, 'dashboard')).sort()).toEqual([
        'dashboard.css',
        'dashboard.js',
        'index.html',
      ]);
      // Not in the bundle: the API's cold start never parses them.
      expect(bundle).not.toContain('The Shipcast dashboard: plain DOM');
      for (const [path, body] of Object.entries(files)) {
        const response = await invokeOk('api', functionUrlEvent('GET', path));
        expect(response.statusCode).toBe(200);
        expect(response.body).toBe(body);
        expect(response.headers?.['content-security-policy']).toBe(DASHBOARD_CSP);
        expect(response.headers?.['x-content-type-options']).toBe('nosniff');
      }
    });

    it('serves the rare routes from rare-routes.mjs next to the bundle, which index.mjs does not contain', async () => {
      const bundle = readFileSync(join(functions.api.assetDir, 'index.mjs'), 'utf8');
      const rare = readFileSync(join(functions.api.assetDir, RARE_ROUTES_FILE_NAME), 'utf8');
      // A string of each moved module: DORA's bands, the DORA route, Pipelines, CDEvents, BigPanda's end schema.
      for (const marker of [
        'DORA State of DevOps 2023',
        'window_too_large',
        'event_immutable',
        'dev.cdevents.pipelinerun.queued',
        'must be success or failure',
      ]) {
        expect(rare, marker).toContain(marker);
        expect(bundle, marker).not.toContain(marker);
      }

      // Each invocation is a cold start: the handler imports the file on this first request to a rare route.
      const dora = await invokeOk(
        'api',
        functionUrlEvent('GET', '/v1/metrics/dora?service=checkout', { headers: auth() }),
      );
      expect(dora.statusCode, dora.body).toBe(200);
      expect(JSON.parse(dora.body)).toMatchObject({ services: ['checkout'], deploymentFrequency: {} });

      const build = readFileSync(new URL('../fixtures/pipelines/build-event.json', import.meta.url), 'utf8');
      const pipelines = await invokeOk(
        'api',
        functionUrlEvent(
          'PUT',
          `/acme/apps/bundle-app/events/buildEvent?apiToken=${encodeURIComponent(API_TOKEN)}`,
          {
            headers: { 'content-type': 'application/json' },
            body: build,
          },
        ),
      );
      expect(pipelines.statusCode, pipelines.body).toBe(200);
      const { event_id: eventId } = JSON.parse(pipelines.body) as { event_id: string };
      expect(await store.getCiEvent(eventId)).toMatchObject({
        source: 'pipelines',
        app: 'bundle-app',
        username: 'acme',
      });

      const cdEvent = JSON.parse(
        readFileSync(new URL('../fixtures/cdevents/service_deployed.0.3.0.json', import.meta.url), 'utf8'),
      );
      const cdevents = await invokeOk(
        'api',
        functionUrlEvent('POST', '/v1/cdevents', {
          headers: { ...auth(), 'content-type': 'application/cloudevents+json' },
          body: JSON.stringify({
            specversion: '1.0',
            id: cdEvent.context.id,
            source: cdEvent.context.source,
            type: cdEvent.context.type,
            time: cdEvent.context.timestamp,
            data: cdEvent,
          }),
        }),
      );
      expect(cdevents.statusCode, cdevents.body).toBe(202);
      const { deploymentId } = JSON.parse(cdevents.body) as { deploymentId: string };
      expect(await store.getDeployment(deploymentId)).toMatchObject({
        source: 'cdevents',
        service: 'mySubject123',
      });
    });

    it('answers 401 to a wrong bearer token and stores nothing', async () => {
      const body = JSON.stringify({
        service: 'checkout',
        environment: 'production',
        status: 'started',
        deploymentId: 'bundle-unauthorized',
      });
      const response = await invokeOk(
        'api',
        functionUrlEvent('POST', '/v1/events', {
          headers: { authorization: 'Bearer not-the-token', 'content-type': 'application/json' },
          body,
        }),
      );
      expect(response.statusCode).toBe(401);
      expect(response.headers['www-authenticate']).toMatch(/^Bearer /);
      expect(JSON.parse(response.body)).toMatchObject({ error: 'unauthorized' });
      const { items } = await store.listDeployments({ limit: 100 });
      expect(items.some((d) => d.sourceDeploymentId === 'checkout/bundle-unauthorized')).toBe(false);
    });

    it('accepts POST /v1/events with 202, records it in DynamoDB and queues one message per routed target', async () => {
      const secretReadsBefore = secretsManager.requests.length;
      const accepted = await postEvent({ commit: 'abc1234', actor: 'ana' });

      expect(accepted).toEqual({
        eventId: expect.stringMatching(/^evt_/),
        deploymentId: expect.stringMatching(/^dep_[0-9a-f]{24}$/),
        status: 'in_progress',
      });
      expect(await store.getDeployment(accepted.deploymentId)).toMatchObject({
        source: 'native',
        service: 'checkout',
        environment: 'production',
        status: 'in_progress',
        actor: 'ana',
        revision: { commit: 'abc1234' },
      });
      expect((await store.listEvents(accepted.deploymentId)).map((e) => e.eventId)).toEqual([
        accepted.eventId,
      ]);
      const queued = (await dispatchMessagesFor(accepted.deploymentId)).map(
        (m) => JSON.parse(m.Body!) as DispatchMessage,
      );
      expect(queued.sort((a, b) => a.target.localeCompare(b.target))).toEqual([
        { v: 1, deploymentId: accepted.deploymentId, seq: 1, target: 'console' },
        { v: 1, deploymentId: accepted.deploymentId, seq: 1, target: 'hook' },
      ]);
      // The token came from Secrets Manager, asked for by its prefixed name with a SigV4-signed request.
      expect(secretsManager.requests.slice(secretReadsBefore)).toContainEqual({
        target: 'secretsmanager.GetSecretValue',
        contentType: expect.stringMatching(/^application\/x-amz-json-1\.1/),
        signed: true,
        region: REGION,
        accessKeyId: expect.any(String),
        body: { SecretId: `${SECRET_PREFIX}api-token` },
      });
    });
  });

  describe('ingest', () => {
    it('records a CodeDeploy trigger from an SNS→SQS record, enriched through CodeDeploy', async () => {
      const expected = parseCodeDeployMessage(unwrapSnsSqsBody(FIXTURE_BODY, 'fixture').message, {
        receivedAt: new Date().toISOString(),
        where: 'fixture',
      });
      const event: SQSEvent = {
        Records: [
          sqsRecord(
            { messageId: randomUUID(), receiptHandle: `AQEB${randomUUID()}`, body: FIXTURE_BODY },
            'shipcast-ingest',
          ),
        ],
      };

      expect(await invokeOk('ingest', event)).toEqual({ batchItemFailures: [] });

      expect(await store.getDeployment(expected.deploymentId)).toMatchObject({
        source: 'codedeploy',
        service: 'checkout',
        environment: 'checkout-production',
        status: 'succeeded',
        // From BatchGetDeployments, not from the trigger.
        actor: 'user',
        description: CODEDEPLOY_INFO.description,
        revision: { repository: 'acme/checkout', commit: CODEDEPLOY_INFO.revision.gitHubLocation.commitId },
      });
      expect(codedeploy.requests).toContainEqual({
        target: 'CodeDeploy_20141006.BatchGetDeployments',
        contentType: expect.stringMatching(/^application\/x-amz-json-1\.1/),
        signed: true,
        // The trigger's own region (the enricher signs for the deployment's region).
        region: 'eu-west-2',
        accessKeyId: expect.any(String),
        body: { deploymentIds: ['d-4F2KQ8ZX1'] },
      });
      const queued = (await dispatchMessagesFor(expected.deploymentId)).map(
        (m) => (JSON.parse(m.Body!) as DispatchMessage).target,
      );
      expect(queued.sort()).toEqual(['console', 'hook']);
    });
  });

  describe('dispatch', () => {
    it('delivers the queued messages: the webhook receives the signed POST and the deliveries are recorded', async () => {
      const accepted = await postEvent();
      const received = await dispatchMessagesFor(accepted.deploymentId);
      expect(received).toHaveLength(2);
      const hookRequestsBefore = target.requests.length;
      const event: SQSEvent = {
        Records: received.map((m) =>
          sqsRecord(
            {
              messageId: m.MessageId!,
              receiptHandle: m.ReceiptHandle!,
              body: m.Body!,
              receiveCount: m.Attributes?.ApproximateReceiveCount,
            },
            'shipcast-dispatch',
          ),
        ),
      };

      const invocation = await invoke('dispatch', event);
      expect(invocation.error, invocation.output).toBeUndefined();
      expect(invocation.result).toEqual({ batchItemFailures: [] });
      // The EMF records carry this deployment's metrics service: the construct's alarms watch exactly it.
      const deliveredMetric = invocation.output
        .split('\n')
        .filter((line) => line.includes('"_aws"'))
        .map((line) => JSON.parse(line))
        .find((record) => record.Deliveries === 1 && record.target === 'hook');
      expect(deliveredMetric).toMatchObject({ service: `shipcast/${STACK}`, outcome: 'delivered' });

      const posts = target.requests.slice(hookRequestsBefore);
      expect(posts).toHaveLength(1);
      const [post] = posts;
      expect(post).toMatchObject({ method: 'POST', path: '/shipcast' });
      expect(post!.headers['content-type']).toBe('application/json');
      expect(post!.headers['shipcast-delivery']).toBe(`${accepted.deploymentId}:1`);
      expect(post!.json()).toMatchObject({
        type: 'deployment.transition',
        id: `${accepted.deploymentId}:1`,
        deployment: { id: accepted.deploymentId, service: 'checkout', status: 'in_progress' },
        transition: { seq: 1, to: 'in_progress' },
      });
      // Signed with the key from Secrets Manager, verifiable the way receivers verify it.
      const signature = String(post!.headers[SIGNATURE_HEADER]);
      const t = Number(/^t=(\d+),v1=[0-9a-f]{64}$/.exec(signature)?.[1]);
      expect(signature).toBe(signWebhook(WEBHOOK_KEY, post!.body, t));

      const deliveries = await store.listDeliveries(accepted.deploymentId);
      expect(deliveries.map((d) => [d.target, d.state, d.deliveredSeq]).sort()).toEqual([
        ['console', 'delivered', 1],
        ['hook', 'delivered', 1],
      ]);
      expect(await queueDepth(local.dispatchDlqUrl)).toBe(0);
    });
  });
});
