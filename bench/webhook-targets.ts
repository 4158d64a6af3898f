/**
 * The config of a benchmark run that sends everything to its local webhook target servers: one `webhook`
 * target per server (signed with the `hook-key` secret) and one route to all of them.
 */
export function webhookTargetsConfig(targets: readonly { url: string }[], sources: Record<string, unknown>) {
  const names = targets.map((_, i) => `hook-${i + 1}`);
  return {
    api: { tokens: [{ name: 'bench', secret: 'api-token' }] },
    sources,
    targets: Object.fromEntries(
      targets.map((t, i) => [names[i], { type: 'webhook', url: `${t.url}/shipcast`, secret: 'hook-key' }]),
    ),
    routes: [{ name: 'everything', targets: names }],
  };
}
