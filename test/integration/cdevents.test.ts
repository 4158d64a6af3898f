import { readdirSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createApi } from '../../functions/core/api/app.ts';
import { deploymentIdFor, eventIdFor } from '../../functions/core/ids.ts';
import type { DispatchMessage } from '../../functions/core/schema.ts';
import { createHarness, type Harness } from '../support/harness.ts';

const TOKEN = 'tok-cdevents-51be0d';

type Json = Record<string, unknown>;
type CdEvent = {
  context: Json & { id: string; source: string; type: string; timestamp: string };
  subject: Json & { id: string; source?: string; content: Json };
};

const FIXTURES = new URL('../fixtures/cdevents/', import.meta.url);
const fixtureNames = readdirSync(FIXTURES)
  .filter((name) => name.endsWith('.json'))
  .sort();
const fixture = (name: string): CdEvent =>
  JSON.parse(readFileSync(new URL(name, FIXTURES), 'utf8')) as CdEvent;

/** Binary mode, as the CDEvents CloudEvents binding maps a CDEvent: context → ce-* headers, CDEvent → body. */
function binary(event: CdEvent, contentType = 'application/cdevents+json; charset=utf-8') {
  return {
    headers: {
      'ce-specversion': '1.0',
      'ce-id': event.context.id,
      'ce-source': event.context.source,
      'ce-type': event.context.type,
      'ce-time': event.context.timestamp,
      'ce-subject': event.subject.id,
      'content-type': contentType,
    } as Record<string, string>,
    body: JSON.stringify(event),
  };
}

/** Structured mode: the whole CloudEvent as the JSON body, the CDEvent as its data. */
function structured(event: CdEvent) {
  return {
    headers: { 'content-type': 'application/cloudevents+json; charset=utf-8' } as Record<string, string>,
    body: JSON.stringify({
      specversion: '1.0',
      id: event.context.id,
      source: event.context.source,
      type: event.context.type,
      time: event.context.timestamp,
      subject: event.subject.id,
      datacontenttype: 'application/json',
      data: event,
    }),
  };
}

const config = {
  api: { tokens: [{ name: 'tekton', secret: 'api-token' }] },
  targets: { console: { type: 'log' }, audit: { type: 'log' } },
  routes: [{ match: { source: 'cdevents' }, targets: ['console', 'audit'] }],
};

const distinct = (messages: DispatchMessage[]) =>
  [...new Set(messages.map((m) => `${m.deploymentId} ${m.seq} ${m.target}`))].sort();

const post = (
  api: ReturnType<typeof createApi>,
  message: { headers: Record<string, string>; body: string },
) =>
  api.request('/v1/cdevents', {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, ...message.headers },
    body: message.body,
  });

const SPEC_TIME = '2023-03-20T14:27:05.315Z';
const SPEC_DIGEST = 'sha256:0b31b1c02ff458ad9b7b81cbdf8f028bd54699fa151f221d1e8de6817db93427';
const SPEC_ARTIFACT =
  'pkg:oci/myapp@sha256%3A0b31b1c02ff458ad9b7b81cbdf8f028bd54699fa151f221d1e8de6817db93427';

/** What each published example becomes (every example shares context id and source, so each gets its own table). */
const EXPECTED: Record<string, (h: Harness, answer: Json) => Promise<void>> = {
  service: async (h, answer) => {
    expect(answer).toMatchObject({ kind: 'deployment', status: 'succeeded', disposition: 'applied' });
    const sourceDeploymentId = '/event/source/123 271069a8-fc18-44f1-b38f-9d70a1695819';
    expect(answer.deploymentId).toBe(deploymentIdFor('cdevents', sourceDeploymentId));
    expect(answer.eventId).toBe(
      eventIdFor('cdevents', '/event/source/123', '271069a8-fc18-44f1-b38f-9d70a1695819'),
    );
    const record = await h.store.getDeployment(answer.deploymentId as string);
    expect(record).toMatchObject({
      source: 'cdevents',
      sourceDeploymentId,
      service: 'mySubject123',
      environment: 'test123',
      status: 'succeeded',
      finishedAt: SPEC_TIME,
      details: { subjectSource: '/event/source/123' },
    });
    expect(distinct(await h.dispatchMessages())).toEqual([
      `${answer.deploymentId} 1 audit`,
      `${answer.deploymentId} 1 console`,
    ]);
  },
};

describe('CDEvents over CloudEvents', () => {
  describe.each(fixtureNames)('the CDEvents spec example %s', (name) => {
    let h: Harness;
    let api: ReturnType<typeof createApi>;
    const event = fixture(name);
    const [, subject, predicate] = /^dev\.cdevents\.(\w+)\.(\w+)\./.exec(event.context.type) as unknown as [
      string,
      string,
      string,
    ];

    beforeAll(async () => {
      h = await createHarness({ config, env: { SHIPCAST_SECRET_API_TOKEN: TOKEN } });
      api = createApi(h.runtime.api);
    });
    afterAll(async () => {
      await h?.stop();
    });

    it('is recorded from binary mode as the mapping table says', async () => {
      const response = await post(api, binary(event));

      expect(response.status).toBe(202);
      const answer = (await response.json()) as Json;
      if (subject === 'service') {
        await (EXPECTED.service as (h: Harness, a: Json) => Promise<void>)(h, answer);
        const record = await h.store.getDeployment(answer.deploymentId as string);
        expect(record?.sourceStatus).toBe(predicate);
        expect(record?.details).toMatchObject({ cdeventType: event.context.type, action: predicate });
        if (predicate === 'removed') {
          expect(record?.version).toBeUndefined();
          expect(record?.description).toBe('removed from test123');
        } else {
          expect(record).toMatchObject({ version: SPEC_DIGEST, details: { artifactId: SPEC_ARTIFACT } });
        }
        if (predicate === 'rolledback') expect(record?.description).toBe(`rolled back to ${SPEC_ARTIFACT}`);
        return;
      }
      const build = {
        queued: { status: 'queued', build_status: 'Queued' },
        started: { status: 'running', build_status: 'Running' },
        finished: { status: 'failed', build_status: 'Failed' },
      }[predicate] as { status: string; build_status: string };
      expect(answer).toMatchObject({ kind: 'build', status: build.status, disposition: 'applied' });
      const ci = await h.store.getCiEvent(answer.ciEventId as string);
      expect(ci).toMatchObject({
        source: 'cdevents',
        type: 'BUILD',
        username: 'cdevents',
        app: 'myPipeline',
        status: build.status,
        final: predicate === 'finished',
        eventTime: SPEC_TIME,
        fields: {
          build_id: 'mySubject123',
          build_status: build.build_status,
          build_url: 'https://www.example.com/mySubject123',
          pipeline_name: 'myPipeline',
        },
      });
      if (predicate === 'finished') {
        expect(ci?.sourceStatus).toBe('failure');
        expect(ci?.fields).toMatchObject({
          outcome: 'failure',
          errors: 'Something went wrong\nWith some more details',
          build_end: SPEC_TIME,
        });
      }
      expect(await h.dispatchMessages()).toEqual([]);
    });

    it('is recognised as a duplicate when the same event arrives again in structured mode', async () => {
      const first = await post(api, binary(event));
      const again = await post(api, structured(event));

      expect(again.status).toBe(202);
      const answer = (await again.json()) as Json;
      expect(answer.disposition).toBe('duplicate');
      expect(answer).toMatchObject({ ...((await first.json()) as Json), disposition: 'duplicate' });
      if (subject === 'service') {
        expect(await h.store.listEvents(answer.deploymentId as string)).toHaveLength(1);
        const { items } = await h.store.listDeployments({ limit: 100 });
        expect(items).toHaveLength(1);
      }
    });
  });

  describe('on one table', () => {
    let h: Harness;
    let api: ReturnType<typeof createApi>;
    let seq = 0;

    beforeAll(async () => {
      h = await createHarness({ config, env: { SHIPCAST_SECRET_API_TOKEN: TOKEN } });
      api = createApi(h.runtime.api);
    });
    afterAll(async () => {
      await h?.stop();
    });
    beforeEach(async () => {
      h.clock.advance(1000);
      await h.drainDispatch();
    });

    /** A spec example given an id (and optionally changes) of its own, as a real emitter would send it. */
    const example = (name: string, change: (event: CdEvent) => void = () => {}): CdEvent => {
      const event = fixture(name);
      event.context.id = `evt-${process.pid}-${++seq}`;
      change(event);
      return event;
    };
    const deploymentCount = async () => (await h.store.listDeployments({ limit: 100 })).items.length;

    it('answers 401 without a configured bearer token and stores nothing', async () => {
      const before = await deploymentCount();
      for (const authorization of [undefined, 'Bearer wrong-token']) {
        const message = structured(example('service_deployed.0.3.0.json'));
        const response = await api.request('/v1/cdevents', {
          method: 'POST',
          headers: { ...message.headers, ...(authorization ? { authorization } : {}) },
          body: message.body,
        });
        expect(response.status).toBe(401);
        expect(response.headers.get('www-authenticate')).toMatch(/^Bearer /);
      }
      expect(await deploymentCount()).toBe(before);
      expect(await h.dispatchMessages()).toEqual([]);
    });

    it('records a structured-mode service.deployed with its service, environment and purl version, and fans it out', async () => {
      const event = example('service_deployed.0.3.0.json', (e) => {
        e.subject.id = 'checkout';
        e.subject.content = {
          environment: { id: 'production', source: '/clusters/prod' },
          artifactId: 'pkg:oci/checkout@v2.14.0?repository_url=ghcr.io/acme/checkout',
        };
      });

      const response = await post(api, structured(event));

      expect(response.status).toBe(202);
      const answer = (await response.json()) as Json;
      expect(answer).toMatchObject({ kind: 'deployment', status: 'succeeded', disposition: 'applied' });
      expect(await h.store.getDeployment(answer.deploymentId as string)).toMatchObject({
        service: 'checkout',
        environment: 'production',
        version: 'v2.14.0',
        status: 'succeeded',
      });
      expect(distinct(await h.dispatchMessages())).toEqual([
        `${answer.deploymentId} 1 audit`,
        `${answer.deploymentId} 1 console`,
      ]);
    });

    it('takes the bare service name from a subject id such as service/catalog-svc and keeps the id in the details', async () => {
      const event = example('service_deployed.0.3.0.json', (e) => {
        e.subject.id = 'service/catalog-svc';
        e.subject.content = { environment: { id: 'production' } };
      });

      const response = await post(api, structured(event));

      expect(response.status).toBe(202);
      const answer = (await response.json()) as Json;
      expect(await h.store.getDeployment(answer.deploymentId as string)).toMatchObject({
        service: 'catalog-svc',
        details: { subjectId: 'service/catalog-svc' },
      });
    });

    it.each([
      ['structured', 'application/cloudevents+json; charset=UTF-8'],
      ['structured', 'Application/CloudEvents+JSON'],
      ['structured', 'application/cloudevents+json ; charset="utf-8"'],
      ['binary', 'Application/JSON; Charset=UTF-8'],
      ['binary', 'APPLICATION/CDEVENTS+JSON'],
    ])(
      'reads %s mode with the media type written %j (case and parameters do not count)',
      async (mode, contentType) => {
        const event = example('service_upgraded.0.2.0.json', (e) => {
          e.context.id = `media-type-${contentType}`;
        });
        const message = mode === 'structured' ? structured(event) : binary(event);
        message.headers['content-type'] = contentType;

        const response = await post(api, message);

        expect(response.status).toBe(202);
        expect(await response.json()).toMatchObject({ status: 'succeeded', disposition: 'applied' });
      },
    );

    it('reads binary mode with application/json and with application/cdevents+json alike', async () => {
      for (const contentType of ['application/json', 'application/cdevents+json']) {
        const response = await post(api, binary(example('service_upgraded.0.2.0.json'), contentType));
        expect(response.status).toBe(202);
        expect(await response.json()).toMatchObject({ status: 'succeeded', disposition: 'applied' });
      }
    });

    it('tells events apart by CloudEvent source and id: the same id from another source is another deployment', async () => {
      const event = example('service_deployed.0.1.1.json');
      const other = { ...event, context: { ...event.context, source: '/other/emitter' } };

      const a = (await (await post(api, binary(event))).json()) as Json;
      const b = (await (await post(api, binary(other))).json()) as Json;
      const c = (await (await post(api, binary(event))).json()) as Json;

      expect(b.deploymentId).not.toBe(a.deploymentId);
      expect(b.disposition).toBe('applied');
      expect(c).toMatchObject({ deploymentId: a.deploymentId, disposition: 'duplicate' });
    });

    it('accepts other 0.x versions of a type and a type without version, and ignores another major version', async () => {
      for (const type of ['dev.cdevents.service.deployed.0.2.5', 'dev.cdevents.service.deployed']) {
        const response = await post(
          api,
          binary(example('service_deployed.0.1.1.json', (e) => (e.context.type = type))),
        );
        expect(await response.json()).toMatchObject({ kind: 'deployment', disposition: 'applied' });
      }
      const before = await deploymentCount();
      const future = await post(
        api,
        binary(
          example(
            'service_deployed.0.1.1.json',
            (e) => (e.context.type = 'dev.cdevents.service.deployed.1.0.0'),
          ),
        ),
      );
      expect(future.status).toBe(202);
      expect(await future.json()).toMatchObject({ ignored: true });
      expect(await deploymentCount()).toBe(before);
    });

    it('follows one pipeline run from queued to finished as one BUILD event whose finished status never changes', async () => {
      const runId = `run-${process.pid}-${++seq}`;
      const run = (name: string, outcome?: string) =>
        example(name, (e) => {
          e.subject.id = runId;
          if (outcome) e.subject.content.outcome = outcome;
        });
      const queued = run('pipelinerun_queued.0.1.1.json');
      const started = run('pipelinerun_started.0.3.0-draft.json');
      const finished = run('pipelinerun_finished.0.2.0.json', 'success');

      const answers: Json[] = [];
      for (const event of [queued, started, finished])
        answers.push((await (await post(api, binary(event))).json()) as Json);
      const lateStart = (await (
        await post(api, structured({ ...started, context: { ...started.context, id: `${runId}-late` } }))
      ).json()) as Json;
      const repeat = (await (await post(api, structured(finished))).json()) as Json;

      expect(answers.map((a) => [a.status, a.disposition])).toEqual([
        ['queued', 'applied'],
        ['running', 'applied'],
        ['succeeded', 'applied'],
      ]);
      expect(new Set(answers.map((a) => a.ciEventId)).size).toBe(1);
      expect(lateStart).toMatchObject({ status: 'succeeded', disposition: 'stale' });
      expect(repeat).toMatchObject({ status: 'succeeded', disposition: 'duplicate' });
      const ci = await h.store.getCiEvent(answers[0]?.ciEventId as string);
      expect(ci).toMatchObject({
        type: 'BUILD',
        status: 'succeeded',
        sourceStatus: 'success',
        final: true,
        fields: { build_status: 'Success', outcome: 'success', build_start: SPEC_TIME, build_end: SPEC_TIME },
      });
      const listed = await h.store.listCiEvents({
        username: 'cdevents',
        app: 'myPipeline',
        order: 'desc',
        limit: 100,
      });
      expect(listed.items.filter((item) => item.eventId === ci?.eventId)).toHaveLength(1);
    });

    it.each([
      ['success', 'succeeded'],
      ['failure', 'failed'],
      ['error', 'failed'],
      ['cancel', 'cancelled'],
    ])('maps a finished pipeline run with outcome %s to a %s build', async (outcome, status) => {
      const event = example('pipelinerun_finished.0.3.0-draft.json', (e) => {
        e.subject.id = `outcome-${outcome}-${process.pid}`;
        e.subject.content.outcome = outcome;
      });
      const answer = (await (await post(api, binary(event))).json()) as Json;
      expect(answer).toMatchObject({ kind: 'build', status });
      expect((await h.store.getCiEvent(answer.ciEventId as string))?.sourceStatus).toBe(outcome);
    });

    it.each([
      'dev.cdevents.artifact.published.0.2.0',
      'dev.cdevents.service.published.0.2.0',
      'dev.cdevents.taskrun.finished.0.2.0',
      'com.example.someone.else',
    ])('answers 202 ignored to %s without storing anything', async (type) => {
      const before = await deploymentCount();
      const response = await post(
        api,
        structured(example('service_deployed.0.3.0.json', (e) => (e.context.type = type))),
      );

      expect(response.status).toBe(202);
      expect(await response.json()).toMatchObject({ ignored: true, type });
      expect(await deploymentCount()).toBe(before);
      expect(await h.dispatchMessages()).toEqual([]);
    });

    describe('malformed envelopes', () => {
      const issuesOf = async (response: Response) => {
        expect(response.status).toBe(400);
        const body = (await response.json()) as {
          error: string;
          issues: { path: string; message: string }[];
        };
        expect(body.error).toBe('invalid_request');
        return body.issues;
      };

      it('names a missing binary-mode attribute by its header', async () => {
        const message = binary(example('service_deployed.0.1.1.json'));
        delete message.headers['ce-id'];
        const issues = await issuesOf(await post(api, message));
        expect(issues.map((i) => i.path)).toEqual(['ce-id']);
        expect(issues[0]?.message).toContain('"id" is missing');
      });

      it('names every missing attribute of a structured-mode event', async () => {
        const event = example('service_deployed.0.1.1.json');
        const message = structured(event);
        const { id: _id, type: _type, ...rest } = JSON.parse(message.body) as Json;
        const issues = await issuesOf(await post(api, { ...message, body: JSON.stringify(rest) }));
        expect(issues.map((i) => i.path).sort()).toEqual(['id', 'type']);
      });

      it('answers 400 to plain JSON without any CloudEvents attribute, naming what binary mode needs', async () => {
        const event = example('service_deployed.0.1.1.json');
        const issues = await issuesOf(
          await post(api, { headers: { 'content-type': 'application/json' }, body: JSON.stringify(event) }),
        );
        expect(issues.map((i) => i.path)).toEqual(['ce-specversion', 'ce-id', 'ce-source', 'ce-type']);
      });

      it('answers 400 to a structured body that is not JSON, to a batch, and to another specversion', async () => {
        await issuesOf(
          await post(api, { headers: { 'content-type': 'application/cloudevents+json' }, body: '{"id":' }),
        );
        const batch = await issuesOf(
          await post(api, { headers: { 'content-type': 'application/cloudevents-batch+json' }, body: '[]' }),
        );
        expect(batch[0]?.path).toBe('content-type');
        const message = binary(example('service_deployed.0.1.1.json'));
        message.headers['ce-specversion'] = '2.0';
        expect((await issuesOf(await post(api, message))).map((i) => i.path)).toEqual(['ce-specversion']);
      });

      it('names the CDEvent fields a deployment or a finished run cannot do without, and stores nothing', async () => {
        const before = await deploymentCount();
        const noEnvironment = example('service_deployed.0.1.1.json', (e) => {
          e.subject.content = { artifactId: SPEC_ARTIFACT };
          e.subject.id = '';
        });
        const issues = await issuesOf(await post(api, binary(noEnvironment)));
        expect(issues.map((i) => i.path).sort()).toEqual([
          'data.subject.content.environment',
          'data.subject.id',
        ]);

        const noOutcome = example('pipelinerun_finished.0.2.0.json', (e) => {
          delete e.subject.content.outcome;
        });
        const outcome = await issuesOf(await post(api, binary(noOutcome)));
        expect(outcome.map((i) => i.path)).toEqual(['data.subject.content.outcome']);
        expect(await deploymentCount()).toBe(before);
      });

      it('answers 413 to a body over 64 KiB', async () => {
        const event = example('service_deployed.0.1.1.json', (e) => {
          e.subject.content.padding = 'x'.repeat(70_000);
        });
        const response = await post(api, structured(event));
        expect(response.status).toBe(413);
      });
    });
  });
});
