/** `shipcast dora`: the five DORA metrics of `GET /v1/metrics/dora`, as a table or JSON. */
import type { DoraAnswer } from '../core/dora-query.ts';
import { ApiError } from './api-client.ts';
import { flag, parseArgs, UsageError } from './args.ts';
import { apiOf, type CliContext, EXIT } from './context.ts';
import { duration, table } from './output.ts';

type Figures = Pick<
  DoraAnswer,
  'deploymentFrequency' | 'changeLeadTime' | 'changeFailRate' | 'recoveryTime' | 'reworkRate'
>;

/** `shipcast dora [--service S[,S…]] [--environment E] [--from T] [--to T] [--interval week|month]`. */
export async function dora(args: string[], context: CliContext): Promise<number> {
  const parsed = parseArgs(args, {
    values: ['service', 'environment', 'from', 'to', 'interval'],
    booleans: [],
  });
  if (parsed.positionals.length > 0) throw new UsageError(`unexpected argument "${parsed.positionals[0]}"`);
  const interval = flag(parsed, 'interval');
  if (interval !== undefined && interval !== 'week' && interval !== 'month') {
    throw new UsageError(`--interval must be week or month (got "${interval}")`);
  }
  let answer: DoraAnswer & { services: string[] | null; environment: string | null };
  try {
    ({ body: answer } = await apiOf(context).request<typeof answer>('GET', '/v1/metrics/dora', {
      query: {
        service: flag(parsed, 'service'),
        environment: flag(parsed, 'environment'),
        from: time(flag(parsed, 'from'), 'from'),
        to: time(flag(parsed, 'to'), 'to'),
        interval,
      },
    }));
  } catch (error) {
    if (error instanceof ApiError && error.status === 422) {
      throw new ApiError(
        `${error.message} (e.g. --from ${new Date(context.now() - 7 * 86_400_000).toISOString().slice(0, 10)})`,
        error.status,
        error.body,
      );
    }
    throw error;
  }
  if (context.json) {
    context.out.stdout(`${JSON.stringify(answer)}\n`);
    return EXIT.ok;
  }
  const scope = `${answer.services?.join(', ') ?? 'every service'} → ${answer.environment ?? 'every production environment'}`;
  context.out.stdout(
    `DORA metrics of ${scope}, ${answer.from} to ${answer.to} (production: ${answer.productionEnvironments.join(', ')})\n\n`,
  );
  context.out.stdout(
    table(
      ['METRIC', 'VALUE', 'BAND', 'BASED ON'],
      [
        [
          'deployment frequency',
          `${answer.deploymentFrequency.deployments} (${answer.deploymentFrequency.perWeek}/week)`,
          answer.deploymentFrequency.band ?? '-',
          `${answer.deploymentFrequency.basedOn} successful deployments`,
        ],
        [
          'change lead time',
          seconds(answer.changeLeadTime.value),
          answer.changeLeadTime.band ?? '-',
          `${answer.changeLeadTime.basedOn} commits of ${answer.changeLeadTime.deploymentsWithLeadTime} deployments`,
        ],
        [
          'change fail rate',
          percent(answer.changeFailRate.value),
          answer.changeFailRate.band ?? '-',
          `${answer.changeFailRate.failed} failed of ${answer.changeFailRate.basedOn} deployments`,
        ],
        [
          'recovery time',
          seconds(answer.recoveryTime.value),
          answer.recoveryTime.band ?? '-',
          `${answer.recoveryTime.basedOn} recovered, ${answer.recoveryTime.unrecovered} not yet`,
        ],
        [
          'rework rate',
          percent(answer.reworkRate.value),
          answer.reworkRate.band ?? '-',
          `${answer.reworkRate.rework} rework of ${answer.reworkRate.basedOn} deployments`,
        ],
      ],
    ),
  );
  context.out.stdout(`\nper ${answer.interval}:\n`);
  context.out.stdout(
    table(
      ['START', 'DEPLOYMENTS', 'LEAD TIME', 'FAIL RATE', 'RECOVERY', 'REWORK'],
      answer.series.map((period: Figures & { start: string }) => [
        period.start.slice(0, 10),
        String(period.deploymentFrequency.deployments),
        seconds(period.changeLeadTime.value),
        percent(period.changeFailRate.value),
        seconds(period.recoveryTime.value),
        percent(period.reworkRate.value),
      ]),
    ),
  );
  context.out.stderr(
    `bands: ${answer.bandSource}; read ${answer.reads.deployments} deployments, ${answer.reads.incidents} incidents\n`,
  );
  return EXIT.ok;
}

/** A date (`2026-03-01`, midnight UTC) or an ISO 8601 date-time as the API takes it. */
function time(value: string | undefined, name: string): string | undefined {
  if (value === undefined) return undefined;
  if (/^\d{4}-\d{2}-\d{2}$/.test(value)) return `${value}T00:00:00Z`;
  if (Number.isNaN(Date.parse(value)) || !/^\d{4}-\d{2}-\d{2}T/.test(value)) {
    throw new UsageError(`--${name} must be a date (2026-03-01) or an ISO 8601 date-time (got "${value}")`);
  }
  return value;
}

function seconds(value: number | null): string {
  return value === null ? '-' : duration(value * 1000);
}

function percent(value: number | null): string {
  return value === null ? '-' : `${Math.round(value * 1000) / 10}%`;
}
