import type { Schemas } from '../api/client';
import { DataTable } from '../ui/common';
import { when } from '../ui/format';

/** A router task as the API lists it (`GET /admin/tasks`, `GET /admin/gateways/{gateway_id}/tasks`). */
export type Task = Schemas['ProvisioningTaskOut'];

export function TaskTable({ data }: { data: Task[] | undefined }) {
  return (
    <DataTable
      caption="Router tasks"
      rows={data}
      rowKey={(r) => r.id}
      columns={[
        { key: 'created_at', label: 'Created', render: (r) => when(r.created_at) },
        { key: 'kind', label: 'Kind' },
        { key: 'status', label: 'Status' },
        { key: 'gateway_id', label: 'Router' },
        { key: 'subscriber_id', label: 'Subscriber' },
        { key: 'attempts', label: 'Attempts', align: 'right' },
        { key: 'error', label: 'Error', render: (r) => r.last_error ?? '' },
      ]}
    />
  );
}
