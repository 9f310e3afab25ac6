import { Button, Group, Text } from '@mantine/core';
import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { rowsOf } from '../api/client';

/** The token of the page after `page` (its `next_cursor`, or `next_token` on the lists that name it so);
 * undefined on the last page. */
export function nextPageToken(page: unknown): string | undefined {
  const p = page as { next_cursor?: unknown; next_token?: unknown } | null | undefined;
  const token = p?.next_cursor ?? p?.next_token;
  return typeof token === 'string' && token ? token : undefined;
}

/** A list of the API read a page at a time: the rows of every page read so far, in the list's order. */
export interface PagedList<T, P = unknown> {
  /** every row of the pages read so far (undefined until the first page is read) */
  rows: T[] | undefined;
  /** the first page as the API sent it (its totals) */
  first: P | undefined;
  error: string | null;
  loading: boolean;
  /** read the next page and add its rows; undefined once the last page is read */
  more: (() => void) | undefined;
  /** read again as many pages as are shown (after a change, or to follow a running job) */
  reload: () => void;
}

/** Read a list a page at a time: `readPage(token)` reads the page after `token` (the first page without
 * one). A change of `deps` (the list's filters) starts again from the first page. */
export function usePagedList<T, P = unknown>(readPage: (token: string | undefined) => Promise<P>, deps: unknown[]): PagedList<T, P> {
  const [pages, setPages] = useState<P[] | undefined>(undefined);
  const [error, setError] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);
  const seq = useRef(0);
  const shown = useRef<P[]>([]); // the pages on screen, or none while another filter's pages are read
  const read = useRef(readPage);
  read.current = readPage;

  // the pages `from` and the next ones, up to `upTo` pages (or the last one); only the latest call shows
  const load = useCallback((from: P[], upTo: number) => {
    const mine = ++seq.current;
    setLoading(true);
    (async () => {
      const got = [...from];
      while (got.length < upTo) {
        const token = got.length ? nextPageToken(got[got.length - 1]) : undefined;
        if (got.length && !token) break;
        got.push(await read.current(token));
      }
      return got;
    })()
      .then((got) => {
        if (mine !== seq.current) return;
        shown.current = got;
        setPages(got);
        setError(null);
      })
      .catch((e: unknown) => {
        if (mine === seq.current) setError(e instanceof Error ? e.message : String(e));
      })
      .finally(() => {
        if (mine === seq.current) setLoading(false);
      });
  }, []);

  useEffect(() => {
    shown.current = [];
    load([], 1);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, deps);

  const rows = useMemo(() => pages?.flatMap((p) => rowsOf<T>(p)), [pages]);
  const last = pages?.[pages.length - 1];
  const hasMore = pages !== undefined && nextPageToken(last) !== undefined;
  return {
    rows,
    first: pages?.[0],
    error,
    loading,
    more: hasMore ? () => load(shown.current, shown.current.length + 1) : undefined,
    reload: () => load([], Math.max(1, shown.current.length)),
  };
}

/** Under a paged list: how many rows are shown and, while older pages remain, "Load more". */
export function LoadMore({ list, what }: { list: PagedList<unknown, unknown>; what: string }) {
  const n = list.rows?.length ?? 0;
  if (n === 0 && !list.more) return null; // the table says the list is empty
  return (
    <Group justify="space-between" mt="xs" data-testid="load-more">
      <Text size="sm" c="dark.4" aria-live="polite" data-testid="shown-count">
        {list.more ? `${n} ${what} shown` : `All ${n} ${what} shown`}
      </Text>
      {list.more && (
        <Button variant="default" size="xs" onClick={list.more} loading={list.loading} aria-label={`Load more ${what}`}>
          Load more
        </Button>
      )}
    </Group>
  );
}
