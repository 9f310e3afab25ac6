// Typed clients generated from the API's /openapi.json (src/api/schema.d.ts, written by `make web`):
// a page that uses a path, a parameter or a field the API does not have does not compile.
import createClient, { type Middleware } from 'openapi-fetch';
import type { components, paths } from './schema';

export type Schemas = components['schemas'];
export type { paths };

const OPERATOR_KEY = 'wisp.operator';
const PORTAL_KEY = 'wisp.portal';
const TENANT_KEY = 'wisp.tenant';

export interface OperatorSession {
  token: string;
  expires_at: string;
  email: string;
  name?: string | null;
}

export interface PortalSession {
  token: string;
  tenant_id: string;
  username: string;
  subscriber_id: string;
}

function read<T>(key: string): T | null {
  try {
    const raw = localStorage.getItem(key);
    return raw ? (JSON.parse(raw) as T) : null;
  } catch {
    return null;
  }
}

export const session = {
  operator: () => read<OperatorSession>(OPERATOR_KEY),
  setOperator: (s: OperatorSession | null) =>
    s ? localStorage.setItem(OPERATOR_KEY, JSON.stringify(s)) : localStorage.removeItem(OPERATOR_KEY),
  portal: () => read<PortalSession>(PORTAL_KEY),
  setPortal: (s: PortalSession | null) =>
    s ? localStorage.setItem(PORTAL_KEY, JSON.stringify(s)) : localStorage.removeItem(PORTAL_KEY),
  // The tenant the console works in (resellers and the system switch between their tenants).
  tenant: () => localStorage.getItem(TENANT_KEY) || undefined,
  setTenant: (id: string | null) => (id ? localStorage.setItem(TENANT_KEY, id) : localStorage.removeItem(TENANT_KEY)),
};

function bearer(get: () => { token: string } | null, onUnauthorized: () => void): Middleware {
  return {
    onRequest({ request }) {
      const s = get();
      if (s) request.headers.set('Authorization', `Bearer ${s.token}`);
      return request;
    },
    onResponse({ response }) {
      if (response.status === 401) onUnauthorized();
      return response;
    },
  };
}

export const admin = createClient<paths>({ baseUrl: '' });
admin.use(
  bearer(session.operator, () => {
    if (session.operator()) {
      session.setOperator(null);
      window.dispatchEvent(new Event('wisp:signed-out'));
    }
  }),
);

export const portal = createClient<paths>({ baseUrl: '' });
portal.use(bearer(session.portal, () => undefined));

export interface ApiError {
  code: string;
  message: string;
  field?: string | null;
}

/** How long a refusal lasts (`details.retry_after_s` of a 429), in words. */
function waitText(seconds: number): string {
  const minutes = Math.ceil(seconds / 60);
  return minutes <= 1 ? 'in a minute' : `in ${minutes} minutes`;
}

/** The API's error body `{"error": {code, message, field, details}}` as one line for a person; a 429 says
 * when to try again. */
export function errorText(error: unknown): string {
  const e = (error as { error?: ApiError & { details?: { retry_after_s?: unknown } } } | undefined)?.error;
  const wait = e?.details?.retry_after_s;
  if (e && typeof e.message === 'string' && typeof wait === 'number' && wait > 0) return `${e.message} (${waitText(wait)})`;
  if (e && typeof e.message === 'string') return e.field ? `${e.message} (${e.field})` : e.message;
  if (error instanceof Error) return error.message;
  return 'The request failed';
}

/** The fields a refused request names, each with its reason: every field of a 422's `details.errors`
 * (a body the API could not validate), or the one `field` of the error. Keys are the API's field paths
 * (`reason`, `filter.q`). */
export function fieldErrors(error: unknown): Record<string, string> {
  const e = (error as { error?: ApiError & { details?: { errors?: { field?: string; reason?: string }[] } } } | undefined)?.error;
  const out: Record<string, string> = {};
  for (const d of e?.details?.errors ?? []) if (d.field && d.reason && !(d.field in out)) out[d.field] = d.reason;
  if (e?.field && !(e.field in out)) out[e.field] = e.message;
  return out;
}

/** Unwrap an openapi-fetch result: the data, or throw an Error with the API's message. */
export async function ok<T>(p: Promise<{ data?: T; error?: unknown; response: Response }>): Promise<T> {
  const { data, error, response } = await p;
  if (error !== undefined || data === undefined) {
    throw new Error(error !== undefined ? errorText(error) : `HTTP ${response.status}`);
  }
  return data;
}

/** Download a file the API serves behind the operator's or the subscriber's token (CSV, PDF). */
export async function download(url: string, filename: string, who: 'operator' | 'portal' = 'operator') {
  const s = who === 'operator' ? session.operator() : session.portal();
  const res = await fetch(url, { headers: s ? { Authorization: `Bearer ${s.token}` } : {} });
  if (!res.ok) {
    let msg = `HTTP ${res.status}`;
    try {
      msg = errorText(await res.json());
    } catch {
      /* not JSON */
    }
    throw new Error(msg);
  }
  const blob = await res.blob();
  const a = document.createElement('a');
  a.href = URL.createObjectURL(blob);
  a.download = filename;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
}

/** The rows of a list response: a JSON array, or an object with `items`. */
export function rowsOf<T = Record<string, unknown>>(data: unknown): T[] {
  if (Array.isArray(data)) return data as T[];
  const items = (data as { items?: unknown } | null | undefined)?.items;
  return Array.isArray(items) ? (items as T[]) : [];
}
