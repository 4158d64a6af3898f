import type { BuildStatus } from './schema.ts';

/** How far a build has come: waiting/queued 0, running 1, any end 2. Builds only move forward. */
export const BUILD_RANK: Readonly<Record<BuildStatus, number>> = {
  waiting: 0,
  queued: 0,
  running: 1,
  succeeded: 2,
  failed: 2,
  timed_out: 2,
  cancelled: 2,
};

/** True for the build statuses that end a build. */
export function isFinalBuild(status: BuildStatus | undefined): boolean {
  return status !== undefined && BUILD_RANK[status] === 2;
}
