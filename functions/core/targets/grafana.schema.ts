import * as z from 'zod';
import { baseUrlField, secretNameField, timeoutMsField } from './change-event.schema.ts';

/** Grafana annotations (HTTP API): one region per deployment; a service account token is the secret. */
export const grafanaConfigSchema = z
  .object({
    type: z.literal('grafana'),
    /** Grafana's root URL (`https://grafana.example.com`, `https://<stack>.grafana.net`); a sub-path is kept. */
    url: baseUrlField(),
    /** Name of the secret holding a service account token (role Editor, or annotations:create/write/read). */
    token: secretNameField('the service account token', /^glsa_/),
    /** Put the annotation on this dashboard only; without it, an organization annotation (found by tags). */
    dashboardUID: z
      .string()
      .regex(/^[A-Za-z0-9_-]{1,40}$/, 'a dashboard UID (letters, digits, _ and -, up to 40)')
      .optional(),
    /** And on this panel of it only. */
    panelId: z.number().int().positive().optional(),
    /** Tags added to Shipcast's own (`deploy`, `service:…`, `environment:…`, …), e.g. a team's. */
    tags: z.array(z.string().min(1).max(100)).max(20).default([]),
    timeoutMs: timeoutMsField(),
  })
  .strict()
  .superRefine((config, ctx) => {
    if (config.panelId !== undefined && config.dashboardUID === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['panelId'],
        message: 'a panel belongs to a dashboard: set dashboardUID too',
      });
    }
  });
export type GrafanaConfig = z.infer<typeof grafanaConfigSchema>;
