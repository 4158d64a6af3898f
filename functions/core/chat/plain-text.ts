import { chatFields, chatLinks } from './slack-blocks.ts';
import { renderTemplate } from './template.ts';
import type { ChatView } from './view.ts';

/** A notification as plain text: a one-line title and a body of `Label: value` lines. */
export interface PlainTextMessage {
  title: string;
  body: string;
}

/**
 * Renders the default layout as plain text (e-mail's text part, Pushover, Gerrit): the title template, the
 * fields, the text template (else the description), the error of a failed or stopped deployment and the links.
 * `escapeValue` is applied to every value from the event; the templates' own text is kept as written.
 */
export function plainTextMessage(
  view: ChatView,
  templates: { title: string; text?: string },
  escapeValue: (value: string) => string = (value) => value,
): PlainTextMessage {
  const title = renderTemplate(templates.title, view, escapeValue).replace(/\s+/g, ' ').trim();
  const lines = chatFields(view).map(
    (field) => `${field.label}: ${field.trusted ? field.value : escapeValue(field.value)}`,
  );
  const text = templates.text ? renderTemplate(templates.text, view, escapeValue).trim() : '';
  const description = text || (view.description ? escapeValue(view.description) : '');
  const error =
    view.error && (view.status === 'failed' || view.status === 'stopped')
      ? `Error: ${escapeValue(view.error)}`
      : '';
  const links = chatLinks(view).map((link) => `${link.label}: ${link.url ?? escapeValue(link.note ?? '')}`);
  const body = [lines.join('\n'), description, error, links.join('\n')].filter(Boolean).join('\n\n');
  return { title, body };
}
