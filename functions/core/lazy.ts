/**
 * A value built on first use and kept. Module-level zod schemas are built this way so that loading a module
 * (a Lambda cold start) builds none of them: each is built by the first request that needs it.
 */
export function lazy<T>(build: () => T): () => T {
  let value: T | undefined;
  let built = false;
  return () => {
    if (!built) {
      value = build();
      built = true;
    }
    return value as T;
  };
}
