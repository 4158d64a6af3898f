import type { Context, SQSEvent } from 'aws-lambda';
import { awsRuntime } from './aws-runtime.ts';
import { createDispatchHandler } from './dispatch-handler.ts';
import { createSweepHandler, isSweepEvent } from './sweep-handler.ts';

const dispatch = createDispatchHandler(() => awsRuntime());
const sweep = createSweepHandler(() => awsRuntime());

/** Lambda entry point of the dispatcher: SQS batches of dispatch messages, and the scheduled sweep. */
export const handler = (event: SQSEvent, context?: Pick<Context, 'getRemainingTimeInMillis'>) =>
  isSweepEvent(event) ? sweep(context) : dispatch(event, context);
