import { readFileSync, writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

/**
 * Shipcast's scale model (`npm run scale-model`): from the per-event counts the benchmark measured
 * (bench/results.json, `model` and `fleet`), the events per second at which each AWS and target limit bites,
 * and what Shipcast costs per month at 1, 100 and 10,000 events a second. Writes the tables into
 * docs/scaling.md between its markers; `--check` only compares (exit 1 when the page is out of date).
 * test/unit/scale-model.test.ts keeps the page equal to this output for the committed results.
 */

/** The limits the model applies (us-east-1 defaults; sources in docs/scaling.md). */
export const LIMITS = {
  /** DynamoDB on-demand, per table (adjustable): request units per second. */
  tableWru: 40_000,
  tableRru: 40_000,
  /** DynamoDB on-demand: what a new table serves at once, before it has scaled. */
  newTableWru: 4_000,
  newTableRru: 12_000,
  /** DynamoDB: one partition, table or index. */
  partitionWru: 1_000,
  partitionRru: 3_000,
  /** SQS FIFO, high throughput mode, us-east-1: requests per second per API action; per message group. */
  fifoRequestsPerAction: 70_000,
  fifoRequestsPerGroup: 300,
  /** Lambda: concurrent executions per account and region (adjustable); scaling per function per 10 s. */
  lambdaConcurrency: 1_000,
  lambdaScalingPer10s: 1_000,
  /** Lambda: requests per second per unit of concurrency (function URLs included). */
  requestsPerConcurrency: 10,
  /** Shipcast's defaults: the API's reserved concurrency, the dispatch event source's maximum concurrency. */
  apiReservedConcurrency: 20,
  dispatchMaxConcurrency: 5,
  /** Lambda's SQS event source: concurrent batches at first, added per minute, at most. */
  sqsPollersAtFirst: 5,
  sqsPollersAddedPerMinute: 300,
  sqsPollersMax: 1_000,
  /** Secrets Manager GetSecretValue per second; Shipcast caches a secret 5 minutes per execution environment. */
  getSecretValuePerSecond: 10_000,
  secretCacheSeconds: 300,
  /** SNS Publish per second in us-east-1 (CodeDeploy publishing to Shipcast's topic). */
  snsPublishPerSecond: 30_000,
} as const;

/** Targets' documented limits per channel, token or webhook: requests per second, and calls per delivery. */
export const TARGET_LIMITS = [
  { target: 'Slack `chat.postMessage` (one channel)', perSecond: 1, callsPerDelivery: 1 },
  { target: 'Slack `chat.update`, Tier 3 (one workspace)', perSecond: 50 / 60, callsPerDelivery: 1 },
  { target: 'GitHub, content-creating requests (one token)', perSecond: 80 / 60, callsPerDelivery: 2 },
  { target: 'GitHub, hourly primary limit (one token)', perSecond: 5_000 / 3_600, callsPerDelivery: 2 },
  { target: 'Microsoft Teams (one webhook)', perSecond: 4, callsPerDelivery: 1 },
  { target: 'Google Chat (one space)', perSecond: 1, callsPerDelivery: 1 },
  { target: 'Telegram (one chat)', perSecond: 1, callsPerDelivery: 1 },
] as const;

/** The index partition keys every record shares (spread over the run's shards); other indexes are per service. */
export const SHARED_INDEX_KEYS: Record<string, string> = {
  byTime: 'every deployment',
  byRecordedTransition: 'every transition of one hour',
};

/** What results.json holds for the model (written by bench/run.ts and bench/fleet.ts). */
export interface ScaleResults {
  model: {
    commit: string;
    at: string;
    machine: { cpu: string; cores: number; loadAverageAtStart?: number; loadAverageAtEnd?: number };
    workload: { eventsPerSecond: number; targetsPerRoute: number; shareThroughSns: number };
    perEvent: {
      deliveries: number;
      dynamoWriteUnits: number;
      dynamoReadUnits: number;
      dynamoIndexWriteUnits: Record<string, number>;
      dispatchSendRequests: number;
      dispatchReceives?: number;
      dispatchDeletes?: number;
      snsPublishes: number;
      codeDeployCalls: number;
      lambdaMs: { api: number; ingest: number; dispatch: number };
      usd: number;
      usdByItem?: Record<string, number>;
      floorUsd: number;
      logBytes?: number;
    };
    /** The table layout of the run (absent in runs before it was recorded: one shard each). */
    table?: { schemaVersion: number; shards: Record<string, number> };
  };
  fleet?: {
    instances: number;
    perInstanceEvent: { dynamoWriteUnits: number; dynamoReadUnits: number; usd: number };
  };
}

const SECONDS_PER_MONTH = 30 * 24 * 3600;
/** CloudWatch Logs ingestion, USD per GB (standard class). */
const LOGS_USD_PER_GB = 0.5;

const fmt = (n: number) => {
  if (!Number.isFinite(n)) return '—';
  if (n >= 100) return Math.round(n).toLocaleString('en-US');
  if (n >= 10) return n.toFixed(1);
  return n.toFixed(2);
};
const usd = (n: number) => `$${n >= 1000 ? Math.round(n).toLocaleString('en-US') : n.toFixed(2)}`;

/** The tables of docs/scaling.md for these results (Markdown, ends with a newline). */
export function scaleModelTables(results: ScaleResults): string {
  const { model, fleet } = results;
  const e = model.perEvent;
  const targets = model.workload.targetsPerRoute;
  const sns = model.workload.shareThroughSns;
  const msAll = e.lambdaMs.api + e.lambdaMs.ingest + e.lambdaMs.dispatch;
  const busiest = Math.max(e.lambdaMs.api, e.lambdaMs.ingest, e.lambdaMs.dispatch);
  const apiMsPerRequest = e.lambdaMs.api / Math.max(1e-9, 1 - sns);
  const ingestMsPerMessage = e.lambdaMs.ingest / Math.max(1e-9, sns);
  const receives = e.dispatchReceives ?? e.deliveries / 10;
  const deletes = e.dispatchDeletes ?? e.deliveries / 10;
  const perTarget = e.deliveries / targets;

  const rows: [string, string, string, string][] = [];
  const row = (limit: string, figure: string, perEvent: string, bites: number | string) =>
    rows.push([limit, figure, perEvent, typeof bites === 'number' ? fmt(bites) : bites]);

  row(
    'DynamoDB table, on-demand',
    `${LIMITS.tableWru.toLocaleString('en-US')} WRU/s, ${LIMITS.tableRru.toLocaleString('en-US')} RRU/s`,
    `${fmt(e.dynamoWriteUnits)} WRU, ${fmt(e.dynamoReadUnits)} RRU`,
    Math.min(LIMITS.tableWru / e.dynamoWriteUnits, LIMITS.tableRru / e.dynamoReadUnits),
  );
  row(
    'DynamoDB table, new on-demand table before it scales',
    `${LIMITS.newTableWru.toLocaleString('en-US')} WRU/s, ${LIMITS.newTableRru.toLocaleString('en-US')} RRU/s`,
    `${fmt(e.dynamoWriteUnits)} WRU, ${fmt(e.dynamoReadUnits)} RRU`,
    Math.min(LIMITS.newTableWru / e.dynamoWriteUnits, LIMITS.newTableRru / e.dynamoReadUnits),
  );
  for (const [index, units] of Object.entries(e.dynamoIndexWriteUnits).sort(([a], [b]) =>
    a.localeCompare(b),
  )) {
    if (units <= 0) continue;
    const shared = SHARED_INDEX_KEYS[index];
    if (shared) {
      const shards = model.table?.shards[index] ?? 1;
      row(
        `index \`${index}\`: the partition key of ${shared}${shards > 1 ? `, ${shards} shards` : ', one shard'}`,
        `${LIMITS.partitionWru.toLocaleString('en-US')} WRU/s per partition`,
        `${fmt(units)} WRU`,
        (LIMITS.partitionWru * shards) / units,
      );
    } else {
      row(
        `index \`${index}\`: one partition key per service`,
        `${LIMITS.partitionWru.toLocaleString('en-US')} WRU/s per partition`,
        `${fmt(units)} WRU`,
        `${fmt(LIMITS.partitionWru / units)} of one service`,
      );
    }
  }
  if (fleet) {
    row(
      'table partition of one deployment (its record, history and deliveries)',
      `${LIMITS.partitionWru.toLocaleString('en-US')} WRU/s per partition`,
      `${fmt(fleet.perInstanceEvent.dynamoWriteUnits)} WRU per instance event`,
      `${fmt(LIMITS.partitionWru / fleet.perInstanceEvent.dynamoWriteUnits)} instance events of one deployment`,
    );
  }
  row('SQS standard queue (ingest)', 'nearly unlimited', `${fmt(sns)} messages`, 'never');
  row(
    'SQS FIFO queue (dispatch), high throughput mode',
    `${LIMITS.fifoRequestsPerAction.toLocaleString('en-US')} requests/s per API action`,
    `${fmt(e.dispatchSendRequests)} sends, ${fmt(receives)} receives, ${fmt(deletes)} deletes`,
    LIMITS.fifoRequestsPerAction / Math.max(e.dispatchSendRequests, receives, deletes),
  );
  row(
    'SQS FIFO message group (one deployment and target)',
    `${LIMITS.fifoRequestsPerGroup} requests/s`,
    'one message per transition',
    'never (3–5 messages in a deployment’s life)',
  );
  row(
    'Lambda concurrency, account',
    `${LIMITS.lambdaConcurrency.toLocaleString('en-US')} at once`,
    `${fmt(msAll)} ms`,
    LIMITS.lambdaConcurrency / (msAll / 1000),
  );
  row(
    'Lambda scaling, per function',
    `+${LIMITS.lambdaScalingPer10s.toLocaleString('en-US')} environments per 10 s`,
    `${fmt(busiest)} ms in the busiest function`,
    `a rise of ${fmt(LIMITS.lambdaScalingPer10s / (busiest / 1000))} within 10 s`,
  );
  row(
    'API function: reserved concurrency and function URL rate',
    `${LIMITS.apiReservedConcurrency} at once, ${LIMITS.requestsPerConcurrency} requests/s each`,
    `${fmt(apiMsPerRequest)} ms per HTTP event`,
    Math.min(
      LIMITS.apiReservedConcurrency * LIMITS.requestsPerConcurrency,
      LIMITS.apiReservedConcurrency / (apiMsPerRequest / 1000),
    ) / Math.max(1e-9, 1 - sns),
  );
  row(
    'ingest event source (SQS → Lambda)',
    `${LIMITS.sqsPollersAtFirst} batches at first, +${LIMITS.sqsPollersAddedPerMinute}/min, ≤ ${LIMITS.sqsPollersMax.toLocaleString('en-US')}`,
    `${fmt(ingestMsPerMessage)} ms per CodeDeploy message`,
    `${fmt((LIMITS.sqsPollersAtFirst * 1000) / ingestMsPerMessage / sns)} at first, ${fmt((LIMITS.sqsPollersMax * 1000) / ingestMsPerMessage / sns)} at most`,
  );
  row(
    'dispatch event source, Shipcast’s maximum concurrency',
    `${LIMITS.dispatchMaxConcurrency} at once (\`dispatchMaxConcurrency\`, up to 1,000)`,
    `${fmt(e.lambdaMs.dispatch)} ms`,
    (LIMITS.dispatchMaxConcurrency * 1000) / e.lambdaMs.dispatch,
  );
  row(
    'Secrets Manager GetSecretValue',
    `${LIMITS.getSecretValuePerSecond.toLocaleString('en-US')}/s`,
    `one per secret per environment per ${LIMITS.secretCacheSeconds / 60} min`,
    'never (1,000 environments × 10 secrets: 33/s)',
  );
  row(
    'SNS Publish (CodeDeploy → topic)',
    `${LIMITS.snsPublishPerSecond.toLocaleString('en-US')}/s`,
    `${fmt(e.snsPublishes)} publishes`,
    LIMITS.snsPublishPerSecond / Math.max(1e-9, e.snsPublishes),
  );
  row(
    'CodeDeploy BatchGetDeployments',
    'not published (throttles)',
    `${fmt(e.codeDeployCalls)} calls`,
    'unknown: enrichment waits for the next event',
  );
  for (const t of TARGET_LIMITS) {
    const calls = perTarget * t.callsPerDelivery;
    row(t.target, `${fmt(t.perSecond)}/s`, `${fmt(calls)} calls`, `${fmt(t.perSecond / calls)} routed to it`);
  }

  const header = [
    '| limit | figure | per event (measured) | bites at (events/s) |',
    '| --- | --- | --- | --- |',
    ...rows.map((r) => `| ${r.join(' | ')} |`),
  ];

  const items = Object.entries(e.usdByItem ?? { total: e.usd });
  const logUsd = ((e.logBytes ?? 0) / 2 ** 30) * LOGS_USD_PER_GB;
  const costRows = [1, 100, 10_000].map((rate) => {
    const events = rate * SECONDS_PER_MONTH;
    const cells = items.map(([, v]) => usd(v * events));
    return `| ${rate.toLocaleString('en-US')} | ${(events / 1e6).toLocaleString('en-US', { maximumFractionDigits: 1 })} M | ${cells.join(' | ')} | **${usd(e.usd * events)}** | ${usd(e.floorUsd * events)} | ${usd(logUsd * events)} |`;
  });
  const costs = [
    `| events/s | events a month | ${items.map(([k]) => k).join(' | ')} | total | floor | CloudWatch Logs (not in total) |`,
    `| --- | --- | ${items.map(() => '---').join(' | ')} | --- | --- | --- |`,
    ...costRows,
  ];

  const load = [model.machine.loadAverageAtStart, model.machine.loadAverageAtEnd]
    .map((l) => (l === undefined ? '?' : l.toFixed(1)))
    .join(' → ');
  return [
    `From \`bench/results.json\`: commit \`${model.commit}\` (table schema version ${model.table?.schemaVersion ?? 1}), ${model.at}, ${model.machine.cpu} (${model.machine.cores} cores), load ${load}, ${fmt(model.workload.eventsPerSecond)} events/s measured, ${targets} targets per route, ${fmt(sns * 100)} % of events through SNS.`,
    '',
    ...header,
    '',
    ...costs,
    '',
  ].join('\n');
}

const BEGIN = '<!-- scale-model:begin -->';
const END = '<!-- scale-model:end -->';

/** The page with its generated block replaced by `tables`. */
export function withTables(page: string, tables: string): string {
  const start = page.indexOf(BEGIN);
  const end = page.indexOf(END);
  if (start < 0 || end < start) throw new Error(`docs/scaling.md needs the markers ${BEGIN} and ${END}`);
  return `${page.slice(0, start + BEGIN.length)}\n${tables}${page.slice(end)}`;
}

/** bench/results.json, parsed. */
export function readResults(path = 'bench/results.json'): ScaleResults {
  const results = JSON.parse(readFileSync(path, 'utf8')) as Partial<ScaleResults>;
  if (!results.model) throw new Error(`${path} has no "model": run \`npm run bench\` first`);
  return results as ScaleResults;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const page = readFileSync('docs/scaling.md', 'utf8');
  const next = withTables(page, scaleModelTables(readResults()));
  if (process.argv.includes('--check')) {
    if (next !== page) {
      process.stderr.write('docs/scaling.md is out of date: run `npm run scale-model`\n');
      process.exit(1);
    }
  } else if (next !== page) {
    writeFileSync('docs/scaling.md', next);
    process.stdout.write('wrote docs/scaling.md\n');
  }
}
