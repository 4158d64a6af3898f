import { EventBridgeBus } from '../adapters/aws/eventbridge-bus.ts';
import { SesV2Sender } from '../adapters/aws/ses-sender.ts';
import { awsRuntime } from './aws-runtime.ts';
import { createDispatchHandler } from './dispatch-handler.ts';

/** Lambda entry point of the dispatcher (SQS batches of dispatch messages). */
export const handler = createDispatchHandler(() =>
  awsRuntime({ eventBus: () => new EventBridgeBus(), ses: () => new SesV2Sender() }),
);
