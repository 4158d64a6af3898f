import {
  Arn,
  ArnFormat,
  BootstraplessSynthesizer,
  CfnOutput,
  Duration,
  Stack,
  type StackProps,
  Token,
  Validations,
} from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as eventsTargets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { MEMBER_ROLE_NAME } from '../functions/core/config-defaults.ts';

/** Props of `ShipcastMemberAccount`: where the central Shipcast is, and what this account gives it. */
export interface ShipcastMemberAccountProps {
  /** The central Shipcast's bus (its stack output `OrganizationEventBusArn`). */
  readonly eventBusArn: string;
  /**
   * The central ingest function's role (its stack output `IngestRoleArn`): the only principal the enrichment
   * role trusts. Required unless `enrichmentRole` is false.
   */
  readonly ingestRoleArn?: string;
  /** The organization (`o-…`); the enrichment role then also requires the caller to be in it (`aws:PrincipalOrgID`). */
  readonly organizationId?: string;
  /**
   * Create the enrichment role (default true). IAM roles are global: deploy it with the stack of one region
   * per account, and `false` in the account's other regions.
   */
  readonly enrichmentRole?: boolean;
  /** Name of the enrichment role; the central config's `sources.codedeploy.memberRoleName` (default `shipcast-codedeploy-read`). */
  readonly roleName?: string;
  /** Forward instance state changes too (two events per instance per deployment); default deployment state changes only. */
  readonly instanceEvents?: boolean;
}

/** A prop of `ShipcastMemberAccount` has a value it cannot work with; the message names the prop. */
export class ShipcastMemberPropsError extends Error {
  constructor(prop: string, problem: string) {
    super(`ShipcastMemberAccount props.${prop}: ${problem}`);
    this.name = 'ShipcastMemberPropsError';
  }
}

const EVENT_BUS_ARN = /^arn:aws[a-z-]*:events:[a-z0-9-]+:\d{12}:event-bus\/[\w.\-/]{1,256}$/;
const ROLE_ARN = /^arn:aws[a-z-]*:iam::\d{12}:role\/[\w+=,.@\-/]{1,512}$/;

/**
 * What a member account of the organization deploys (per region) so that one central Shipcast records its
 * CodeDeploy deployments: a rule forwarding CodeDeploy's EventBridge events to the central bus (with the role
 * EventBridge needs to put events on another account's bus, and a dead-letter queue for what it cannot), and a
 * read-only role the central ingest function assumes to enrich them. See docs/organizations.md.
 */
export class ShipcastMemberAccount extends Construct {
  /** The rule on this account's default bus that forwards CodeDeploy's events. */
  readonly forwardRule: events.Rule;
  /** What EventBridge could not put on the central bus, kept 14 days. */
  readonly deadLetterQueue: sqs.Queue;
  /** The role the central ingest function assumes (absent with `enrichmentRole: false`). */
  readonly enrichmentRole?: iam.Role;

  constructor(scope: Construct, id: string, props: ShipcastMemberAccountProps) {
    validate(props);
    super(scope, id);
    const stack = Stack.of(this);

    this.deadLetterQueue = new sqs.Queue(this, 'DeadLetterQueue', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    Validations.of(this.deadLetterQueue).acknowledge({
      id: 'AwsSolutions::AwsSolutions-SQS3',
      reason:
        "This queue is the dead-letter queue of the forwarding rule's target (events EventBridge could not put " +
        'on the central bus after its retries); it is not itself consumed, so it has no dead-letter queue.',
    });
    Validations.of(this.deadLetterQueue).acknowledge({
      id: 'Serverless::Serverless-SQSRedrivePolicy',
      reason:
        'This queue is itself a dead-letter queue (of the forwarding rule): what lands here is read by an ' +
        'operator (docs/organizations.md), never dead-lettered again.',
    });
    const centralBus = events.EventBus.fromEventBusArn(this, 'CentralBus', props.eventBusArn);
    // A target on another account's bus needs a role (CDK makes one with events:PutEvents on that bus only).
    this.forwardRule = new events.Rule(this, 'ForwardCodeDeployEvents', {
      description: 'CodeDeploy state changes of this account to the central Shipcast',
      eventPattern: {
        source: ['aws.codedeploy'],
        detailType: [
          'CodeDeploy Deployment State-change Notification',
          ...(props.instanceEvents ? ['CodeDeploy Instance State-change Notification'] : []),
        ],
      },
      targets: [new eventsTargets.EventBus(centralBus, { deadLetterQueue: this.deadLetterQueue })],
    });

    if (props.enrichmentRole !== false) {
      const ingestRoleArn = props.ingestRoleArn as string;
      const centralAccount = Arn.split(ingestRoleArn, ArnFormat.SLASH_RESOURCE_NAME).account as string;
      // The account as principal and the role ARN as a condition, not the role as principal: a trust policy
      // naming a role breaks for good when that role is re-created (IAM keeps its old unique id).
      const principal = new iam.AccountPrincipal(centralAccount).withConditions({
        ArnEquals: { 'aws:PrincipalArn': ingestRoleArn },
        ...(props.organizationId ? { StringEquals: { 'aws:PrincipalOrgID': props.organizationId } } : {}),
      });
      this.enrichmentRole = new iam.Role(this, 'EnrichmentRole', {
        roleName: props.roleName ?? MEMBER_ROLE_NAME,
        description: 'Shipcast: the central ingest function reads CodeDeploy deployments of this account',
        assumedBy: principal,
        maxSessionDuration: Duration.hours(1),
      });
      // What enrichment calls (functions/adapters/aws/codedeploy-enricher.ts), in every region of this account.
      this.enrichmentRole.addToPolicy(
        new iam.PolicyStatement({
          actions: ['codedeploy:BatchGetDeployments', 'codedeploy:GetDeployment'],
          resources: [
            stack.formatArn({
              service: 'codedeploy',
              region: '*',
              resource: 'deploymentgroup',
              resourceName: '*',
              arnFormat: ArnFormat.COLON_RESOURCE_NAME,
            }),
          ],
        }),
      );
      Validations.of(this.enrichmentRole).acknowledge({
        id: 'AwsSolutions::AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:codedeploy:*:<AWS::AccountId>:deploymentgroup:*]',
        reason:
          'Read-only calls on the deployments of any deployment group of this account (BatchGetDeployments and ' +
          'GetDeployment authorize on the deployment group, which the central Shipcast learns from the event).',
      });
    }
  }
}

/** Props of `ShipcastMemberStack`. */
export interface ShipcastMemberStackProps extends StackProps, ShipcastMemberAccountProps {}

/**
 * A stack holding one `ShipcastMemberAccount`. It has no assets and needs no bootstrapping (so its synthesized
 * template also works as a CloudFormation StackSet).
 */
export class ShipcastMemberStack extends Stack {
  /** The member construct of this stack. */
  readonly member: ShipcastMemberAccount;

  constructor(scope: Construct, id: string, props: ShipcastMemberStackProps) {
    super(scope, id, { synthesizer: new BootstraplessSynthesizer(), ...props });
    this.member = new ShipcastMemberAccount(this, 'Member', props);
    new CfnOutput(this, 'ForwardRuleArn', {
      description: 'The rule forwarding CodeDeploy events to the central Shipcast',
      value: this.member.forwardRule.ruleArn,
    });
    if (this.member.enrichmentRole) {
      new CfnOutput(this, 'EnrichmentRoleArn', {
        description: 'The role the central Shipcast assumes to enrich deployments of this account',
        value: this.member.enrichmentRole.roleArn,
      });
    }
  }
}

function validate(props: ShipcastMemberAccountProps): void {
  if (!Token.isUnresolved(props.eventBusArn) && !EVENT_BUS_ARN.test(props.eventBusArn ?? '')) {
    throw new ShipcastMemberPropsError(
      'eventBusArn',
      `"${props.eventBusArn}" is not an event bus ARN; use the central stack's output OrganizationEventBusArn`,
    );
  }
  if (props.enrichmentRole !== false) {
    if (props.ingestRoleArn === undefined) {
      throw new ShipcastMemberPropsError(
        'ingestRoleArn',
        "is required for the enrichment role: use the central stack's output IngestRoleArn, or set enrichmentRole " +
          'to false (deployments of this account are then recorded unenriched)',
      );
    }
    if (!Token.isUnresolved(props.ingestRoleArn) && !ROLE_ARN.test(props.ingestRoleArn)) {
      throw new ShipcastMemberPropsError(
        'ingestRoleArn',
        `"${props.ingestRoleArn}" is not an IAM role ARN; use the central stack's output IngestRoleArn`,
      );
    }
  }
  if (props.organizationId !== undefined && !/^o-[a-z0-9]{10,32}$/.test(props.organizationId)) {
    throw new ShipcastMemberPropsError(
      'organizationId',
      `"${props.organizationId}" is not an AWS Organizations id (o- and 10-32 lower-case letters or digits)`,
    );
  }
}
