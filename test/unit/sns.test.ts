import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../functions/core/errors.ts';
import { unwrapSnsLambdaEvent, unwrapSnsSqsBody } from '../../functions/core/sources/sns.ts';

function fixtureText(name: string): string {
  return readFileSync(new URL(`../fixtures/codedeploy/${name}`, import.meta.url), 'utf8');
}

function catchError(fn: () => unknown): InvalidInputError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidInputError);
    return error as InvalidInputError;
  }
  throw new Error('expected an InvalidInputError');
}

const envelope = JSON.parse(fixtureText('sns-sqs-body.json')) as Record<string, unknown>;

describe('unwrapSnsSqsBody', () => {
  it('unwraps the SNS notification envelope of an SQS message body', () => {
    const unwrapped = unwrapSnsSqsBody(fixtureText('sns-sqs-body.json'), 'SQS message m-1');

    expect(unwrapped).toEqual({
      messageId: '95df01b4-ee98-5cb9-9903-4c221d41eb5e',
      topicArn: 'arn:aws:sns:eu-west-2:123456789012:shipcast-codedeploy',
      subject: 'SUCCEEDED: AWS CodeDeploy d-4F2KQ8ZX1 in eu-west-2 to checkout',
      message: envelope.Message,
      timestamp: '2022-10-13T15:57:03.105Z',
    });
  });

  it('treats a null Subject as no subject', () => {
    const unwrapped = unwrapSnsSqsBody(JSON.stringify({ ...envelope, Subject: null }), 'SQS message');

    expect(unwrapped.subject).toBeUndefined();
  });

  it('takes a body without Type as a raw message delivery: the body is the message', () => {
    const raw = fixtureText('deployment-succeeded.real.message.json');

    expect(unwrapSnsSqsBody(raw, 'SQS message')).toEqual({ message: raw });
  });

  it('takes a non-JSON body as a raw message delivery too (the payload parser rejects it)', () => {
    expect(unwrapSnsSqsBody('hello', 'SQS message')).toEqual({ message: 'hello' });
  });

  it('rejects envelopes that are not notifications, naming Type', () => {
    const error = catchError(() =>
      unwrapSnsSqsBody(JSON.stringify({ ...envelope, Type: 'SubscriptionConfirmation' }), 'SQS message m-2'),
    );

    expect(error.where).toBe('SQS message m-2');
    expect(error.issues.map((i) => i.path)).toEqual(['Type']);
  });

  it('rejects a notification without a Message string, naming Message', () => {
    const error = catchError(() =>
      unwrapSnsSqsBody(JSON.stringify({ ...envelope, Message: 42 }), 'SQS message'),
    );

    expect(error.issues.map((i) => i.path)).toEqual(['Message']);
  });
});

describe('unwrapSnsLambdaEvent', () => {
  const event = JSON.parse(fixtureText('sns-lambda-event.json')) as {
    Records: { Sns: Record<string, unknown> }[];
  };

  it('unwraps each Records[i].Sns of the event a subscribed Lambda receives', () => {
    const messages = unwrapSnsLambdaEvent(event);

    expect(messages).toEqual([
      {
        messageId: '95df01b4-ee98-5cb9-9903-4c221d41eb5e',
        topicArn: 'arn:aws:sns:eu-west-2:123456789012:shipcast-codedeploy',
        subject: 'SUCCEEDED: AWS CodeDeploy d-4F2KQ8ZX1 in eu-west-2 to checkout',
        message: event.Records[0]!.Sns.Message,
        timestamp: '2022-10-13T15:57:03.105Z',
      },
    ]);
  });

  it('names the bad record in the path, e.g. Records[2].Sns.Message', () => {
    const record = event.Records[0]!;
    const bad = { ...record, Sns: { ...record.Sns, Message: undefined } };
    const error = catchError(() => unwrapSnsLambdaEvent({ Records: [record, record, bad] }, 'Lambda event'));

    expect(error.where).toBe('Lambda event');
    expect(error.issues.map((i) => i.path)).toEqual(['Records[2].Sns.Message']);
    expect(error.message).toContain('Records[2].Sns.Message');
  });

  it('rejects an event without records', () => {
    expect(catchError(() => unwrapSnsLambdaEvent({ Records: [] })).issues.map((i) => i.path)).toEqual([
      'Records',
    ]);
    expect(catchError(() => unwrapSnsLambdaEvent(null)).issues.map((i) => i.path)).toEqual(['']);
  });
});
