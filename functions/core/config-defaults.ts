/** `dispatch.circuit` when the config says nothing (here, not in config.ts: the dispatcher has no zod; config.ts and config-reader.ts both read it). */
export const CIRCUIT_DEFAULTS = { enabled: true, failures: 5, coolDownSeconds: 60 } as const;

/** `dora` when the config says nothing. */
export const DORA_DEFAULTS = { productionEnvironments: ['prod*'] } as const;

/** The role a member account's stack creates for enrichment, unless `sources.codedeploy.memberRoleName` says otherwise. */
export const MEMBER_ROLE_NAME = 'shipcast-codedeploy-read';
