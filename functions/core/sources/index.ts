import { bigPandaSource } from './bigpanda.ts';
import { cdEventsSource } from './cdevents.ts';
import { githubSource } from './github.ts';
import { gitlabSource } from './gitlab.ts';
import type { HttpSource } from './http-source.ts';
import { pagerDutySource } from './pagerduty.ts';
import { pipelinesSource } from './pipelines.ts';
import { snsHttpSource } from './sns-http.ts';

/** Every HTTP source beyond the native events API. Adding one is one line here plus its file. */
export const HTTP_SOURCES: readonly HttpSource[] = [
  bigPandaSource,
  cdEventsSource,
  snsHttpSource(),
  pipelinesSource,
  githubSource,
  gitlabSource,
  pagerDutySource,
];
