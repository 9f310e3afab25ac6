import { Button, Group, TextInput } from '@mantine/core';
import { useDebouncedValue } from '@mantine/hooks';
import { useState } from 'react';
import { Link } from 'react-router-dom';
import { admin, download, ok, session, type Schemas } from '../api/client';
import { DataTable, Loading, PageTitle, RouterEffect } from '../ui/common';
import { when } from '../ui/format';
import { LoadMore, usePagedList } from '../ui/paging';

export function Online() {
  const [search, setSearch] = useState('');
  const [q] = useDebouncedValue(search, 300);
  const [result, setResult] = useState<Schemas['ActionResult'] | null>(null);
  const list = usePagedList<Schemas['OnlineRow'], Schemas['OnlineOut']>(
    (cursor) => ok(admin.GET('/admin/subscribers/online', { params: { query: { q: q || undefined, tenant_id: session.tenant(), cursor } } })),
    [q],
  );
  async function disconnect(id: string) {
    setResult(await ok(admin.POST('/admin/subscribers/{subscriber_id}/disconnect', { params: { path: { subscriber_id: id } }, body: {} })));
    list.reload();
  }
  return (
    <>
      <PageTitle
        right={
          <Button variant="default" onClick={() => download(`/admin/subscribers/online/export?${new URLSearchParams({ ...(q ? { q } : {}), ...(session.tenant() ? { tenant_id: session.tenant()! } : {}) })}`, 'online.csv').catch((e: Error) => alert(e.message))}>
            Export CSV
          </Button>
        }
      >
        Online {list.first ? `(${list.first.total})` : ''}
      </PageTitle>
      <Group mb="sm">
        <TextInput label="Search" value={search} onChange={(e) => setSearch(e.currentTarget.value)} w={280} />
      </Group>
      {result && <RouterEffect result={result} />}
      <Loading loading={list.loading && !list.rows} error={list.error} />
      <DataTable
        caption="Sessions open now"
        rows={list.rows}
        rowKey={(r) => `${r.subscriber_id}/${r.session_id}`}
        empty="Nobody is online"
        columns={[
          { key: 'username', label: 'Login', render: (r) => <Link to={`/subscribers/${r.subscriber_id}`}>{r.username}</Link> },
          { key: 'name', label: 'Name' },
          { key: 'download_mb', label: 'Down MB', align: 'right' },
          { key: 'upload_mb', label: 'Up MB', align: 'right' },
          { key: 'ip', label: 'IP' },
          { key: 'mac', label: 'MAC' },
          { key: 'online_time', label: 'Time online' },
          { key: 'gateway_name', label: 'Gateway' },
          { key: 'started_at', label: 'Since', render: (r) => when(r.started_at) },
          {
            key: 'actions',
            label: 'Disconnect',
            render: (r) => (
              <Button size="xs" color="red" variant="light" onClick={() => disconnect(r.subscriber_id)} aria-label={`Disconnect ${r.username}`}>
                Disconnect
              </Button>
            ),
          },
        ]}
      />
      <LoadMore list={list} what="sessions" />
    </>
  );
}
