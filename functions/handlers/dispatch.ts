import type { Context, SQSEvent } from 'aws-lambda';
import { EventBridgeBus } from '../adapters/aws/eventbridge-bus.ts';
import { SesV2Sender } from '../adapters/aws/ses-sender.ts';
import { HttpClient } from '../core/http-client.ts';
import { awsRuntime } from './aws-runtime.ts';
import { createDispatchHandler } from './dispatch-handler.ts';
import { createSweepHandler, isSweepEvent } from './sweep-handler.ts';

const runtime = () =>
  awsRuntime({
    http: () => new HttpClient(),
    eventBus: () => new EventBridgeBus(),
    ses: () => new SesV2Sender(),
  });
const dispatch = createDispatchHandler(runtime);
const sweep = createSweepHandler(runtime);

/** Lambda entry point of the dispatcher: SQS batches of dispatch messages, and the scheduled sweep. */
export const handler = (event: SQSEvent, context?: Pick<Context, 'getRemainingTimeInMillis'>) =>
  isSweepEvent(event) ? sweep(context) : dispatch(event, context);
