import { awsRuntime } from './aws-runtime.ts';
import { awsEnrichers } from './enrichers.ts';
import { createIngestHandler } from './ingest-handler.ts';

/** Lambda entry point of the ingest function (SQS batches of SNS envelopes, or SNS records). */
export const handler = createIngestHandler(() => awsRuntime({ enrichers: awsEnrichers }));
