import type { PollerLogger } from './poller.ts';

/** A running schedule. */
export interface Schedule {
  /** Stops the timer and waits for a run in progress to finish. */
  stop(): Promise<void>;
}

/**
 * A local stand-in for an EventBridge schedule: runs `task` at once and then every `everyMs`, never two runs
 * at a time (a run that takes longer delays the next); a failed run is logged and the schedule goes on.
 */
export function startSchedule(options: {
  name: string;
  everyMs: number;
  task: () => Promise<unknown>;
  logger?: PollerLogger;
}): Schedule {
  const logger = options.logger ?? console;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();
  const run = () => {
    running = options
      .task()
      .then(
        () => undefined,
        (error: unknown) =>
          logger.error(`[schedule ${options.name}] run failed; next in ${options.everyMs} ms`, error),
      )
      .finally(() => {
        if (!stopped) timer = setTimeout(run, options.everyMs);
      });
  };
  run();
  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}
