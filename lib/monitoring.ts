import { Aws, Duration, Fn } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cloudwatchActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';

/** Namespace of the CloudWatch Embedded Metric Format records Shipcast writes (functions/core/telemetry.ts). */
export const METRIC_NAMESPACE = 'Shipcast';

/** How long the oldest message of a queue may wait before its age alarm fires. */
export interface QueueAgeAlarmThresholds {
  /** Ingest queue (CodeDeploy triggers); default 15 minutes: the ingest function takes them within seconds. */
  readonly ingest?: Duration;
  /**
   * Dispatch queue; default 6 hours: a delivery may legitimately wait out a target's `Retry-After`, backoff
   * or open circuit, but not for most of SQS's 12-hour visibility limit.
   */
  readonly dispatch?: Duration;
}

/** What the alarms and the dashboard watch. */
export interface MonitoredParts {
  readonly functions: Record<'api' | 'ingest' | 'dispatch', lambda.IFunction>;
  readonly queues: Record<'ingest' | 'dispatch', sqs.IQueue>;
  readonly deadLetterQueues: Record<'ingest' | 'dispatch' | 'subscription', sqs.IQueue>;
  /** The `service` dimension of this deployment's Shipcast metrics. */
  readonly metricsService: string;
  /** Target names of the config (`Deliveries`, `Retries`, `CircuitOpened` are counted per target). */
  readonly targets: readonly string[];
  readonly queueAgeThresholds?: QueueAgeAlarmThresholds;
}

const PERIOD = Duration.minutes(5);
/** Deployments are rare next to events: the deployment widgets count them per hour. */
const DEPLOYMENT_PERIOD = Duration.hours(1);
const DEFAULT_AGE: Required<QueueAgeAlarmThresholds> = {
  ingest: Duration.minutes(15),
  dispatch: Duration.hours(6),
};
const FUNCTION_LABELS = { api: 'API', ingest: 'Ingest', dispatch: 'Dispatch' } as const;
const DLQ_LABELS = {
  ingest: 'IngestDeadLetterQueue',
  dispatch: 'DispatchDeadLetterQueue',
  subscription: 'SubscriptionDeadLetterQueue',
} as const;

/** A Shipcast metric: namespace `Shipcast`, this deployment's `service` and the metric's own dimensions. */
function shipcastMetric(
  parts: MonitoredParts,
  metricName: string,
  dimensions: Record<string, string>,
  label?: string,
): cloudwatch.Metric {
  return new cloudwatch.Metric({
    namespace: METRIC_NAMESPACE,
    metricName,
    dimensionsMap: { service: parts.metricsService, ...dimensions },
    statistic: cloudwatch.Stats.SUM,
    period: PERIOD,
    label,
  });
}

/**
 * The alarms of one Shipcast deployment (`notifyTopic` gives them their actions): function errors and throttles, function URL 5xx, DLQ depths, queue ages, and the DeadLettered and CircuitOpened
 * counts. Every alarm fires at the first occurrence within 5 minutes; missing data is not breaching.
 */
export function createAlarms(scope: Construct, parts: MonitoredParts): cloudwatch.Alarm[] {
  const alarms: cloudwatch.Alarm[] = [];
  const alarm = (id: string, description: string, metric: cloudwatch.IMetric, threshold = 1) => {
    alarms.push(
      new cloudwatch.Alarm(scope, id, {
        alarmDescription: description,
        metric,
        threshold,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
    );
  };
  const sum = { period: PERIOD, statistic: cloudwatch.Stats.SUM };
  for (const [name, fn] of Object.entries(parts.functions) as [
    keyof typeof FUNCTION_LABELS,
    lambda.IFunction,
  ][]) {
    const id = `${name[0]!.toUpperCase()}${name.slice(1)}Function`;
    alarm(`${id}ErrorsAlarm`, `Shipcast ${name} function reported errors`, fn.metricErrors(sum));
    alarm(
      `${id}ThrottlesAlarm`,
      name === 'api'
        ? 'Shipcast API function was throttled: requests beyond its reserved concurrency were refused (429)'
        : `Shipcast ${name} function was throttled`,
      fn.metricThrottles(sum),
    );
  }
  // Function URL metrics by FunctionName aggregate the URL of $LATEST (docs.aws.amazon.com/lambda/latest/dg/urls-monitoring.html).
  alarm(
    'ApiFunctionUrl5xxAlarm',
    'Shipcast API function URL answered 5xx (function errors or timeouts)',
    parts.functions.api.metric('Url5xxCount', sum),
  );
  for (const [name, dlq] of Object.entries(parts.deadLetterQueues) as [
    keyof typeof DLQ_LABELS,
    sqs.IQueue,
  ][]) {
    alarm(
      `${DLQ_LABELS[name]}DepthAlarm`,
      `Messages in the Shipcast ${DLQ_LABELS[name]} need attention (redrive them once the cause is fixed)`,
      dlq.metricApproximateNumberOfMessagesVisible({ period: PERIOD, statistic: cloudwatch.Stats.MAXIMUM }),
    );
  }
  const ages = { ...DEFAULT_AGE, ...parts.queueAgeThresholds };
  for (const name of ['ingest', 'dispatch'] as const) {
    alarm(
      `${name === 'ingest' ? 'Ingest' : 'Dispatch'}QueueAgeAlarm`,
      `The oldest message in the Shipcast ${name} queue has waited ${ages[name].toHumanString()} or more`,
      parts.queues[name].metricApproximateAgeOfOldestMessage({
        period: PERIOD,
        statistic: cloudwatch.Stats.MAXIMUM,
      }),
      ages[name].toSeconds(),
    );
  }
  alarm(
    'DeadLetteredAlarm',
    'Shipcast gave up on a delivery and moved it to the dispatch DLQ (DeadLettered metric)',
    shipcastMetric(parts, 'DeadLettered', { queue: 'dispatch' }),
  );
  for (const target of parts.targets) {
    alarm(
      `CircuitOpenedAlarm-${target}`,
      `Shipcast opened the circuit of target "${target}": its deliveries wait in the dispatch queue`,
      shipcastMetric(parts, 'CircuitOpened', { target }),
    );
  }
  return alarms;
}

/** Makes every alarm notify `topic` (when given) on ALARM and on OK. */
export function notifyTopic(alarms: readonly cloudwatch.Alarm[], topic: sns.ITopic | undefined): void {
  if (!topic) return;
  const action = new cloudwatchActions.SnsAction(topic);
  for (const alarm of alarms) {
    alarm.addAlarmAction(action);
    alarm.addOkAction(action);
  }
}

/**
 * The CloudWatch dashboard of one Shipcast deployment: the functions, the API's function URL, the queues and
 * DLQs, events ingested by source, deliveries, retries and circuits by target, and the alarms.
 */
export function createDashboard(
  scope: Construct,
  parts: MonitoredParts,
  alarms: readonly cloudwatch.Alarm[],
): cloudwatch.Dashboard {
  const functions = Object.entries(parts.functions) as [keyof typeof FUNCTION_LABELS, lambda.IFunction][];
  const perFunction = (metric: (fn: lambda.IFunction) => cloudwatch.Metric) =>
    functions.map(([name, fn]) => metric(fn).with({ label: FUNCTION_LABELS[name] }));
  const sum = { period: PERIOD, statistic: cloudwatch.Stats.SUM };
  const graph = (title: string, left: cloudwatch.IMetric[], width = 8) =>
    new cloudwatch.GraphWidget({ title, left, width, height: 6 });
  const perTarget = (metricName: string, dimensions: Record<string, string> = {}, suffix = '') =>
    parts.targets.map((target) =>
      shipcastMetric(parts, metricName, { target, ...dimensions }, `${target}${suffix}`),
    );
  const queueMetric = (label: string, queue: sqs.IQueue, metric: 'visible' | 'age') =>
    (metric === 'visible'
      ? queue.metricApproximateNumberOfMessagesVisible({
          period: PERIOD,
          statistic: cloudwatch.Stats.MAXIMUM,
        })
      : queue.metricApproximateAgeOfOldestMessage({ period: PERIOD, statistic: cloudwatch.Stats.MAXIMUM })
    ).with({ label });

  const dashboard = new cloudwatch.Dashboard(scope, 'Dashboard', {
    defaultInterval: Duration.hours(6),
  });
  dashboard.addWidgets(
    graph(
      'Function invocations',
      perFunction((fn) => fn.metricInvocations(sum)),
    ),
    graph(
      'Function errors',
      perFunction((fn) => fn.metricErrors(sum)),
    ),
    graph(
      'Function throttles',
      perFunction((fn) => fn.metricThrottles(sum)),
    ),
  );
  dashboard.addWidgets(
    graph(
      'Function duration (p99)',
      perFunction((fn) => fn.metricDuration({ period: PERIOD, statistic: cloudwatch.Stats.p(99) })),
    ),
    graph(
      'Concurrent executions (max)',
      perFunction((fn) =>
        fn.metric('ConcurrentExecutions', { period: PERIOD, statistic: cloudwatch.Stats.MAXIMUM }),
      ),
    ),
    graph(
      'API function URL requests',
      ['UrlRequestCount', 'Url4xxCount', 'Url5xxCount'].map((name) =>
        parts.functions.api.metric(name, { ...sum, label: name }),
      ),
    ),
  );
  dashboard.addWidgets(
    graph('Queue messages visible', [
      queueMetric('ingest', parts.queues.ingest, 'visible'),
      queueMetric('dispatch', parts.queues.dispatch, 'visible'),
    ]),
    graph('Queue age of oldest message (s)', [
      queueMetric('ingest', parts.queues.ingest, 'age'),
      queueMetric('dispatch', parts.queues.dispatch, 'age'),
    ]),
    graph(
      'Dead-letter queues: messages visible',
      (Object.entries(parts.deadLetterQueues) as [string, sqs.IQueue][]).map(([name, dlq]) =>
        queueMetric(name, dlq, 'visible'),
      ),
    ),
  );
  dashboard.addWidgets(
    graph('Deliveries by target: delivered', perTarget('Deliveries', { outcome: 'delivered' })),
    graph('Deliveries by target: failed', perTarget('Deliveries', { outcome: 'failed' })),
    graph('Retries by target', perTarget('Retries')),
  );
  dashboard.addWidgets(
    graph('Circuits opened by target', perTarget('CircuitOpened')),
    graph('Circuits closed by target', perTarget('CircuitClosed')),
    graph('Dead-lettered deliveries and events ingested', [
      shipcastMetric(parts, 'DeadLettered', { queue: 'dispatch' }, 'dead-lettered'),
      // Sources are open-ended: SEARCH finds every `source` this deployment has counted (dashboards only).
      new cloudwatch.MathExpression({
        expression: `SEARCH('{${METRIC_NAMESPACE},service,source} MetricName="EventsIngested" service="${parts.metricsService}"', 'Sum', 300)`,
        label: 'ingested',
        period: PERIOD,
      }),
    ]),
  );
  // The deployments Shipcast records (functions/core/deployment-metrics.ts): `service` is the deployed service
  // here, and services and environments are open-ended, so SEARCH finds them (search-expression-syntax in
  // the CloudWatch user guide: any statistic, Boolean operators in the search term).
  const deployments = (title: string, term: string, statistic: string, label: string) =>
    graph(title, [
      new cloudwatch.MathExpression({
        expression: `SEARCH('${term}', '${statistic}', ${DEPLOYMENT_PERIOD.toSeconds()})`,
        label,
        period: DEPLOYMENT_PERIOD,
      }),
    ]);
  dashboard.addWidgets(
    deployments(
      'Deployments finished by service, environment and outcome (per hour)',
      `{${METRIC_NAMESPACE},environment,outcome,service} MetricName="DeploymentFinished"`,
      'Sum',
      '',
    ),
    deployments(
      'Failed or stopped deployments by service and environment (per hour)',
      `{${METRIC_NAMESPACE},environment,outcome,service} MetricName="DeploymentFinished" (outcome="failed" OR outcome="stopped")`,
      'Sum',
      '',
    ),
    deployments(
      'Change lead time by service and environment (p50, s)',
      `{${METRIC_NAMESPACE},environment,service} MetricName="LeadTimeSeconds"`,
      'p50',
      '',
    ),
  );
  dashboard.addWidgets(
    new cloudwatch.AlarmStatusWidget({ title: 'Alarms', alarms: [...alarms], width: 24, height: 4 }),
  );
  return dashboard;
}

/** The console URL of a CloudWatch dashboard in the stack's region. */
export function dashboardUrl(dashboard: cloudwatch.Dashboard): string {
  return Fn.join('', [
    'https://console.aws.amazon.com/cloudwatch/home?region=',
    Aws.REGION,
    '#dashboards:name=',
    dashboard.dashboardName,
  ]);
}
