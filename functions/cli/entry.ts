import { run } from './main.ts';
import { processOutput } from './output.ts';

/** Runs `shipcast …` for this process's arguments and exits with the command's code. */
export async function main(): Promise<never> {
  // The SDK's notice that its 2027 releases need Node 22 would repeat on every command.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  let code: number;
  try {
    code = await run(process.argv.slice(2), {
      env: process.env,
      out: processOutput,
      json: false,
      sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
      now: () => Date.now(),
    });
  } catch (error) {
    process.stderr.write(`shipcast: ${error instanceof Error ? error.message : String(error)}\n`);
    code = 1;
  }
  process.exit(code);
}
