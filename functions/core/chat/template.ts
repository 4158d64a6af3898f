import { renderTemplate as renderWith } from '../template.ts';
import type { ChatView } from './view.ts';

/** The placeholders a chat template may use, and where each value comes from. */
export const PLACEHOLDERS: Record<string, (view: ChatView) => string> = {
  service: (v) => v.service,
  environment: (v) => v.environment,
  status: (v) => v.statusText,
  emoji: (v) => v.emoji,
  version: (v) => v.version,
  'commit.short': (v) => v.commit?.short ?? '',
  'commit.sha': (v) => v.commit?.sha ?? '',
  repository: (v) => v.repository ?? '',
  actor: (v) => v.actor,
  duration: (v) => v.duration,
  url: (v) => v.url ?? '',
  description: (v) => v.description,
  error: (v) => v.error,
  source: (v) => v.source,
  deploymentId: (v) => v.deploymentId,
};

/** The chat placeholders as the config describes them: `{{service}}, {{environment}}, …`. */
export const CHAT_PLACEHOLDER_NAMES: readonly string[] = Object.keys(PLACEHOLDERS);

/**
 * Renders a template (the one engine, `core/template.ts`): each value is escaped with the platform's `escape`
 * (the admin's own template text is kept as written, so it may use the platform's markup).
 */
export function renderTemplate(
  template: string,
  view: ChatView,
  escapeValue: (value: string) => string,
): string {
  return renderWith(
    template,
    (name) =>
      Object.hasOwn(PLACEHOLDERS, name) ? (PLACEHOLDERS[name] as (v: ChatView) => string)(view) : '',
    escapeValue,
  );
}

/** Default title: `✅ checkout 1.4.2 → production succeeded`. */
export const DEFAULT_TITLE = '{{emoji}} {{service}} {{version}} → {{environment}} {{status}}';
