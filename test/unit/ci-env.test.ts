import { describe, expect, it } from 'vitest';
import { detectCi } from '../../functions/cli/ci-env.ts';

const TOKEN = 'ghs_16C7e42F292c6912E7710c838347Ae178B4a';

describe('CI run detection', () => {
  it.each([
    [
      'Jenkins GIT_URL',
      {
        JENKINS_URL: 'https://ci.example/',
        BUILD_TAG: 'jenkins-shop-7',
        GIT_URL: `https://x-access-token:${TOKEN}@github.com/acme/shop.git`,
      },
    ],
    [
      'Buildkite BUILDKITE_REPO',
      {
        BUILDKITE: 'true',
        BUILDKITE_BUILD_ID: 'b1',
        BUILDKITE_JOB_ID: 'j1',
        BUILDKITE_REPO: `https://${TOKEN}@github.com/acme/shop.git`,
      },
    ],
    [
      'CircleCI CIRCLE_REPOSITORY_URL',
      {
        CIRCLECI: 'true',
        CIRCLE_BUILD_NUM: '7',
        CIRCLE_REPOSITORY_URL: `https://oauth2:${TOKEN}@github.com/acme/shop.git`,
      },
    ],
  ])('drops the credentials a repository URL carries in %s', (_what, env) => {
    const run = detectCi(env);

    expect(run?.repository).toBe('https://github.com/acme/shop.git');
    expect(JSON.stringify(run)).not.toContain(TOKEN);
  });

  it('keeps the user of an ssh clone URL, which is no credential', () => {
    const run = detectCi({
      JENKINS_URL: 'https://ci.example/',
      BUILD_TAG: 't',
      GIT_URL: 'ssh://git@github.com/acme/shop.git',
    });

    expect(run?.repository).toBe('ssh://git@github.com/acme/shop.git');
  });
});
