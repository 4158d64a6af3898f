import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import * as sns from 'aws-cdk-lib/aws-sns';
import type { Construct } from 'constructs';
import { Shipcast, type ShipcastProps } from './shipcast.ts';

/** Props of `ShipcastStack`: the stack props, the `Shipcast` props, and the alarm topic by ARN. */
export interface ShipcastStackProps extends StackProps, Omit<ShipcastProps, 'alarmTopic'> {
  /** ARN of an existing SNS topic the alarms notify; without it the alarms have no actions. */
  readonly alarmTopicArn?: string;
}

/** A stack holding one `Shipcast` construct, with the topic ARN and API URL as outputs. */
export class ShipcastStack extends Stack {
  /** The Shipcast construct of this stack. */
  readonly shipcast: Shipcast;

  constructor(scope: Construct, id: string, props: ShipcastStackProps) {
    super(scope, id, props);
    const alarmTopic = props.alarmTopicArn
      ? sns.Topic.fromTopicArn(this, 'AlarmTopic', props.alarmTopicArn)
      : undefined;
    this.shipcast = new Shipcast(this, 'Shipcast', { ...props, alarmTopic });
    new CfnOutput(this, 'CodeDeployTopicArn', {
      description: 'Select this SNS topic as the target of your CodeDeploy deployment-group triggers',
      value: this.shipcast.codeDeployTopic.topicArn,
    });
    new CfnOutput(this, 'ApiUrl', {
      description: 'Base URL of the Shipcast HTTP API (send a bearer token)',
      value: this.shipcast.apiUrl.url,
    });
  }
}
