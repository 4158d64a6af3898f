import { withoutCredentials } from '../core/timeline.ts';

/**
 * What a CI system says about the run a `shipcast notify` step is in, read from its own environment
 * variables: GitHub Actions, GitLab CI, Jenkins, CircleCI, Buildkite and Bitbucket Pipelines. Each gives the
 * fields Shipcast records (service, commit, ref, repository, actor, the run's URL) and the identity of the run
 * attempt, from which `notify` derives its Idempotency-Key.
 */

/** The run a step is part of, as far as the CI's variables tell. */
export interface CiRun {
  /** Which CI: `github-actions`, `gitlab-ci`, `jenkins`, `circleci`, `buildkite`, `bitbucket-pipelines`. */
  provider: string;
  /** Identifies this attempt of this job: a retried step of the same attempt has the same one. */
  runKey: string;
  service?: string;
  environment?: string;
  repository?: string;
  commit?: string;
  ref?: string;
  actor?: string;
  url?: string;
}

type Env = Readonly<Record<string, string | undefined>>;

const defined = <T extends object>(value: T): T =>
  Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined && v !== '')) as T;

/** The CI run described by `env`, or undefined outside the CIs Shipcast knows. */
export function detectCi(env: Env): CiRun | undefined {
  for (const detect of DETECTORS) {
    const run = detect(env);
    if (run) return defined(run);
  }
  return undefined;
}

const DETECTORS: ((env: Env) => CiRun | undefined)[] = [
  // https://docs.github.com/en/actions/reference/variables-reference
  (env) => {
    if (env.GITHUB_ACTIONS !== 'true') return undefined;
    const server = env.GITHUB_SERVER_URL ?? 'https://github.com';
    const repo = env.GITHUB_REPOSITORY;
    const attempt = env.GITHUB_RUN_ATTEMPT ?? '1';
    return {
      provider: 'github-actions',
      runKey: `${repo}/${env.GITHUB_RUN_ID}/${attempt}/${env.GITHUB_JOB ?? ''}`,
      service: repo?.split('/')[1],
      repository: repo ? `${server}/${repo}` : undefined,
      commit: env.GITHUB_SHA,
      ref: env.GITHUB_REF,
      actor: env.GITHUB_TRIGGERING_ACTOR ?? env.GITHUB_ACTOR,
      url:
        repo && env.GITHUB_RUN_ID
          ? `${server}/${repo}/actions/runs/${env.GITHUB_RUN_ID}/attempts/${attempt}`
          : undefined,
    };
  },
  // https://docs.gitlab.com/ci/variables/predefined_variables/ (a retried job gets a new CI_JOB_ID)
  (env) => {
    if (env.GITLAB_CI !== 'true') return undefined;
    return {
      provider: 'gitlab-ci',
      runKey: `${env.CI_PROJECT_PATH}/${env.CI_PIPELINE_ID}/${env.CI_JOB_ID}`,
      service: env.CI_PROJECT_NAME,
      environment: env.CI_ENVIRONMENT_NAME,
      repository: withoutCredentials(env.CI_PROJECT_URL),
      commit: env.CI_COMMIT_SHA,
      ref: env.CI_COMMIT_TAG
        ? `refs/tags/${env.CI_COMMIT_TAG}`
        : env.CI_COMMIT_BRANCH
          ? `refs/heads/${env.CI_COMMIT_BRANCH}`
          : env.CI_COMMIT_REF_NAME,
      actor: env.GITLAB_USER_LOGIN,
      url: env.CI_JOB_URL ?? env.CI_PIPELINE_URL,
    };
  },
  // https://www.jenkins.io/doc/book/pipeline/jenkinsfile/#using-environment-variables (Git plugin adds GIT_*)
  (env) => {
    if (!env.JENKINS_URL || !env.BUILD_TAG) return undefined;
    return {
      provider: 'jenkins',
      runKey: env.BUILD_TAG,
      service: env.JOB_BASE_NAME ?? env.JOB_NAME?.split('/')[0],
      repository: withoutCredentials(env.GIT_URL),
      commit: env.GIT_COMMIT,
      ref: env.GIT_BRANCH?.replace(/^origin\//, 'refs/heads/'),
      actor: env.BUILD_USER_ID,
      url: env.BUILD_URL,
    };
  },
  // https://circleci.com/docs/reference/variables/ (a rerun is a new job number)
  (env) => {
    if (env.CIRCLECI !== 'true') return undefined;
    return {
      provider: 'circleci',
      runKey: `${env.CIRCLE_PROJECT_USERNAME}/${env.CIRCLE_PROJECT_REPONAME}/${env.CIRCLE_WORKFLOW_ID}/${env.CIRCLE_BUILD_NUM}`,
      service: env.CIRCLE_PROJECT_REPONAME,
      repository: withoutCredentials(env.CIRCLE_REPOSITORY_URL),
      commit: env.CIRCLE_SHA1,
      ref: env.CIRCLE_TAG
        ? `refs/tags/${env.CIRCLE_TAG}`
        : env.CIRCLE_BRANCH
          ? `refs/heads/${env.CIRCLE_BRANCH}`
          : undefined,
      actor: env.CIRCLE_USERNAME,
      url: env.CIRCLE_BUILD_URL,
    };
  },
  // https://buildkite.com/docs/pipelines/configure/environment-variables
  (env) => {
    if (env.BUILDKITE !== 'true') return undefined;
    return {
      provider: 'buildkite',
      runKey: `${env.BUILDKITE_BUILD_ID}/${env.BUILDKITE_JOB_ID}/${env.BUILDKITE_RETRY_COUNT ?? '0'}`,
      service: env.BUILDKITE_PIPELINE_SLUG,
      repository: withoutCredentials(env.BUILDKITE_REPO),
      commit: env.BUILDKITE_COMMIT,
      ref: env.BUILDKITE_TAG
        ? `refs/tags/${env.BUILDKITE_TAG}`
        : env.BUILDKITE_BRANCH
          ? `refs/heads/${env.BUILDKITE_BRANCH}`
          : undefined,
      actor: env.BUILDKITE_BUILD_CREATOR ?? env.BUILDKITE_BUILD_AUTHOR,
      url: env.BUILDKITE_BUILD_URL,
    };
  },
  // https://support.atlassian.com/bitbucket-cloud/docs/variables-and-secrets/
  (env) => {
    if (!env.BITBUCKET_BUILD_NUMBER || !env.BITBUCKET_COMMIT) return undefined;
    const repo = env.BITBUCKET_REPO_FULL_NAME;
    return {
      provider: 'bitbucket-pipelines',
      runKey: `${repo}/${env.BITBUCKET_PIPELINE_UUID ?? env.BITBUCKET_BUILD_NUMBER}/${env.BITBUCKET_STEP_UUID ?? ''}`,
      service: env.BITBUCKET_REPO_SLUG,
      environment: env.BITBUCKET_DEPLOYMENT_ENVIRONMENT,
      repository:
        withoutCredentials(env.BITBUCKET_GIT_HTTP_ORIGIN) ??
        (repo ? `https://bitbucket.org/${repo}` : undefined),
      commit: env.BITBUCKET_COMMIT,
      ref: env.BITBUCKET_TAG
        ? `refs/tags/${env.BITBUCKET_TAG}`
        : env.BITBUCKET_BRANCH
          ? `refs/heads/${env.BITBUCKET_BRANCH}`
          : undefined,
      actor: env.BITBUCKET_STEP_TRIGGERER_UUID,
      url: repo ? `https://bitbucket.org/${repo}/pipelines/results/${env.BITBUCKET_BUILD_NUMBER}` : undefined,
    };
  },
];
