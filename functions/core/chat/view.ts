import type { Deployment, Transition } from '../schema.ts';
import type { Status } from '../status.ts';
import { cleanText, safeLink } from './sanitize.ts';

/** Everything a chat message shows about one transition, already cleaned (but not yet escaped for a platform). */
export interface ChatView {
  deploymentId: string;
  seq: number;
  status: Status;
  /** Human words for the status: `started`, `succeeded`, `failed`, `rolled back`, … */
  statusText: string;
  /** `#2eb886`-style colour of the status. */
  color: string;
  emoji: string;
  /** True once the deployment has ended (the message should say so and stop changing). */
  finished: boolean;
  service: string;
  environment: string;
  version: string;
  commit?: { sha: string; short: string; url?: string };
  repository?: string;
  actor: string;
  description: string;
  /** Human duration (`6m 17s`) when the deployment has started and ended. */
  duration: string;
  /** A link to the deployment (http(s) only). */
  url?: string;
  error: string;
  source: string;
  /** Set when this deployment rolls another back. */
  rollbackOf?: string;
  /** Set when a rollback replaced this deployment. */
  rolledBackBy?: string;
  counts?: string;
}

const WORDS: Record<Status, string> = {
  queued: 'queued',
  in_progress: 'in progress',
  succeeded: 'succeeded',
  failed: 'failed',
  stopped: 'stopped',
};
const COLORS: Record<Status, string> = {
  queued: '#9e9e9e',
  in_progress: '#1e88e5',
  succeeded: '#2eb67d',
  failed: '#e01e5a',
  stopped: '#ecb22e',
};
const EMOJI: Record<Status, string> = {
  queued: '⏳',
  in_progress: '🚀',
  succeeded: '✅',
  failed: '❌',
  stopped: '⏹️',
};

/** Builds the view of a deployment as of a transition (the deployment record is the newest state). */
export function chatView(deployment: Deployment, transition: Transition): ChatView {
  const status = transition.to;
  const commitSha = cleanText(deployment.revision?.commit, 64);
  const repository = cleanText(deployment.revision?.repository, 200);
  const onGitHub = githubRepo(repository, deployment.source);
  const commitUrl =
    commitSha && COMMIT_SHA.test(commitSha) && onGitHub
      ? safeLink(`https://github.com/${onGitHub}/commit/${commitSha}`)
      : undefined;
  const isRollback = Boolean(deployment.rollbackOf);
  return {
    deploymentId: deployment.id,
    seq: transition.seq,
    status,
    statusText: isRollback && status === 'succeeded' ? 'rolled back' : WORDS[status],
    color: COLORS[status],
    emoji: EMOJI[status],
    finished: status === 'succeeded' || status === 'failed' || status === 'stopped',
    service: cleanText(deployment.service, 100) || 'unknown service',
    environment: cleanText(deployment.environment, 100) || 'unknown environment',
    version: cleanText(deployment.version, 100),
    commit: commitSha ? { sha: commitSha, short: commitSha.slice(0, 7), url: commitUrl } : undefined,
    repository: repository || undefined,
    actor: cleanText(deployment.actor, 100),
    description: cleanText(deployment.description, 300),
    duration: formatDuration(deployment.startedAt ?? deployment.createdAt, deployment.finishedAt),
    url: safeLink(deployment.url),
    error: cleanText(
      deployment.error ? [deployment.error.code, deployment.error.message].filter(Boolean).join(': ') : '',
      500,
    ),
    source: cleanText(deployment.source, 40),
    rollbackOf: deployment.rollbackOf,
    rolledBackBy: deployment.rolledBackBy,
    counts: formatCounts(deployment.counts),
  };
}

/** `owner/name` when the repository is on github.com (a slug or a github.com URL), else undefined. */
function githubRepo(repository: string, source: string): string | undefined {
  const url = /^https:\/\/github\.com\/([A-Za-z0-9_.-]+)\/([A-Za-z0-9_.-]+?)(?:\.git)?\/?$/.exec(repository);
  // A bare `owner/name` is a GitHub repository unless the deployment came from GitLab (its project path).
  const slug = source === 'gitlab' ? null : /^([A-Za-z0-9_.-]+)\/([A-Za-z0-9_.-]+)$/.exec(repository);
  const match = url ?? slug;
  if (!match || [match[1], match[2]].some((part) => /^\.+$/.test(part as string))) return undefined;
  return `${match[1]}/${match[2]}`;
}

/** A commit id a link can be built from: hex, abbreviated or full (SHA-1 or SHA-256). */
const COMMIT_SHA = /^[0-9a-f]{7,64}$/i;

/** `1h 2m`, `6m 17s`, `42s`; empty when not finished or unknown. */
export function formatDuration(start: string | undefined, end: string | undefined): string {
  if (!start || !end) return '';
  const seconds = Math.round((Date.parse(end) - Date.parse(start)) / 1000);
  if (!Number.isFinite(seconds) || seconds < 0) return '';
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  if (h > 0) return `${h}h ${m}m`;
  if (m > 0) return `${m}m ${s}s`;
  return `${s}s`;
}

function formatCounts(counts: Deployment['counts']): string | undefined {
  if (!counts) return undefined;
  const parts = [
    counts.succeeded ? `${counts.succeeded} succeeded` : '',
    counts.failed ? `${counts.failed} failed` : '',
    counts.inProgress ? `${counts.inProgress} in progress` : '',
    counts.pending ? `${counts.pending} pending` : '',
    counts.skipped ? `${counts.skipped} skipped` : '',
  ].filter(Boolean);
  return parts.length > 0 ? parts.join(', ') : undefined;
}
