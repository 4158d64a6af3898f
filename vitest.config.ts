import { defineConfig } from 'vitest/config';

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
