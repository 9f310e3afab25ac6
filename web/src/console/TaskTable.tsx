import { rowsOf } from '../api/client';
import { DataTable } from '../ui/common';
import { when } from '../ui/format';

export function TaskTable({ data }: { data: unknown }) {
  return (
    <DataTable
      caption="Router tasks"
      rows={data === undefined ? undefined : rowsOf(data)}
      rowKey={(r) => String(r.id)}
      columns={[
        { key: 'created_at', label: 'Created', render: (r) => when(String(r.created_at ?? '')) },
        { key: 'kind', label: 'Kind' },
        { key: 'status', label: 'Status' },
        { key: 'gateway_id', label: 'Router' },
        { key: 'subscriber_id', label: 'Subscriber' },
        { key: 'attempts', label: 'Attempts', align: 'right' },
        { key: 'error', label: 'Error', render: (r) => String(r.error ?? r.last_error ?? '') },
      ]}
    />
  );
}
