/**
 * Publishes a CodeDeploy trigger message to Shipcast's topic exactly as CodeDeploy does (an SNS Publish of the
 * message JSON), after checking that Shipcast would accept it: the local quick start's second step, and a way to
 * replay a saved trigger into a deployed stack.
 */
import { PublishCommand, type SNSClient } from '@aws-sdk/client-sns';
import { parseCodeDeployMessage } from '../core/sources/codedeploy.ts';

/** What was published. */
export interface PublishedTrigger {
  messageId: string;
  service: string;
  environment: string;
  status: string;
}

/** Thrown when the file is not a CodeDeploy trigger message Shipcast accepts; says which field is wrong. */
export class InvalidTriggerError extends Error {
  override readonly name = 'InvalidTriggerError';
}

/** Checks the trigger message (the text of a file) and publishes it to the topic. */
export async function publishTrigger(
  sns: SNSClient,
  options: { topicArn: string; message: string; where: string },
): Promise<PublishedTrigger> {
  let event: ReturnType<typeof parseCodeDeployMessage>;
  try {
    event = parseCodeDeployMessage(options.message, {
      receivedAt: new Date().toISOString(),
      where: options.where,
    });
  } catch (error) {
    throw new InvalidTriggerError(
      `${options.where} is not a CodeDeploy trigger message Shipcast accepts: ${(error as Error).message}`,
      { cause: error },
    );
  }
  const answer = await sns.send(new PublishCommand({ TopicArn: options.topicArn, Message: options.message }));
  return {
    messageId: answer.MessageId ?? '',
    service: event.service ?? '',
    environment: event.environment ?? '',
    status: event.sourceStatus,
  };
}
