import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import * as sns from 'aws-cdk-lib/aws-sns';
import type { Construct } from 'constructs';
import { dashboardUrl } from './monitoring.ts';
import { Shipcast, type ShipcastProps } from './shipcast.ts';

/** Props of `ShipcastStack`: the stack props, the `Shipcast` props, and the alarm topic by ARN. */
export interface ShipcastStackProps extends StackProps, Omit<ShipcastProps, 'alarmTopic'> {
  /** ARN of an existing SNS topic every alarm notifies; without it the alarms have no actions. */
  readonly alarmTopicArn?: string;
}

/**
 * A stack holding one `Shipcast` construct, with an output for everything an operator needs: the topic
 * to wire CodeDeploy to, the API and dashboard URLs, the queues and DLQs (for redrive), the table and
 * the secrets.
 */
export class ShipcastStack extends Stack {
  /** The Shipcast construct of this stack. */
  readonly shipcast: Shipcast;

  constructor(scope: Construct, id: string, props: ShipcastStackProps) {
    super(scope, id, props);
    const alarmTopic = props.alarmTopicArn
      ? sns.Topic.fromTopicArn(this, 'AlarmTopic', props.alarmTopicArn)
      : undefined;
    const shipcast = new Shipcast(this, 'Shipcast', { ...props, alarmTopic });
    this.shipcast = shipcast;
    const output = (outputId: string, description: string, value: string) =>
      new CfnOutput(this, outputId, { description, value });
    output(
      'CodeDeployTopicArn',
      'Select this SNS topic as the target of your CodeDeploy deployment-group triggers',
      shipcast.codeDeployTopic.topicArn,
    );
    output('ApiUrl', 'Base URL of the Shipcast HTTP API (send a bearer token)', shipcast.apiUrl.url);
    output('DashboardUrl', "Shipcast's web dashboard: the API URL's /", shipcast.apiUrl.url);
    output(
      'CloudWatchDashboardUrl',
      'CloudWatch dashboard: functions, queues, DLQs, deliveries and circuits by target',
      dashboardUrl(shipcast.dashboard),
    );
    output('TableName', 'DynamoDB table of deployments, events and deliveries', shipcast.table.tableName);
    output('IngestQueueUrl', 'Ingest queue (CodeDeploy triggers)', shipcast.ingestQueue.queueUrl);
    output(
      'IngestDeadLetterQueueUrl',
      'Ingest DLQ: npm run redrive -- --dlq-url <this> --queue-url <IngestQueueUrl>',
      shipcast.ingestDeadLetterQueue.queueUrl,
    );
    output('DispatchQueueUrl', 'Dispatch queue (deliveries to targets)', shipcast.dispatchQueue.queueUrl);
    output(
      'DispatchDeadLetterQueueUrl',
      'Dispatch DLQ: npm run redrive -- --dlq-url <this> --queue-url <DispatchQueueUrl>',
      shipcast.dispatchDeadLetterQueue.queueUrl,
    );
    output(
      'SubscriptionDeadLetterQueueUrl',
      'What SNS could not deliver to the ingest queue: npm run redrive -- --dlq-url <this> --queue-url <IngestQueueUrl>',
      shipcast.subscriptionDeadLetterQueue.queueUrl,
    );
    output('SecretPrefix', 'Prefix of the Secrets Manager secret names', shipcast.secretPrefix);
    if (shipcast.organizationEventBus) {
      output(
        'OrganizationEventBusArn',
        "Member accounts forward CodeDeploy events here: ShipcastMemberStack's eventBusArn",
        shipcast.organizationEventBus.eventBusArn,
      );
      output(
        'IngestRoleArn',
        "The ingest function's role, which member accounts' enrichment roles trust: ShipcastMemberStack's ingestRoleArn",
        shipcast.ingestFunction.role!.roleArn,
      );
    }
    const outputIds = new Set<string>();
    for (const [name, secret] of shipcast.secrets) {
      const pascal = name.replace(/(?:^|[^A-Za-z0-9]+)([A-Za-z0-9])/g, (_, c: string) => c.toUpperCase());
      let outputId = `Secret${pascal}Arn`;
      for (let n = 2; outputIds.has(outputId); n++) outputId = `Secret${pascal}${n}Arn`;
      outputIds.add(outputId);
      output(
        outputId,
        `Secret "${name}" (${shipcast.secretPrefix}${name}): set it with aws secretsmanager put-secret-value`,
        secret.secretArn,
      );
    }
  }
}
