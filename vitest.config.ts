import { defineConfig } from 'vitest/config';

// The machines run Node 20 (Lambda runs 22): the AWS SDK's once-per-process notice that its 2027 releases
// need Node 22 would repeat in every test file's output (and every child process's) and bury the results.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

export default defineConfig({
  test: {
    // One in-memory DynamoDB Local (a JVM) for the whole run; tests get its endpoint via inject('dynamodbEndpoint').
    globalSetup: ['test/support/global-setup.ts'],
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    // DynamoDB Local's JVM can take several seconds to start on a cold machine.
    hookTimeout: 90_000,
    pool: 'forks',
  },
});
