import { Alert, Button, Code, Group, Select, TextInput } from '@mantine/core';
import { useState } from 'react';
import { admin, download, errorText, ok, rowsOf, session, type Schemas } from '../api/client';
import { DataTable, Loading, PageTitle, useLoad } from '../ui/common';
import { when } from '../ui/format';
import { LoadMore, usePagedList } from '../ui/paging';
import { TaskTable, type Task } from './TaskTable';

const tenant_id = () => session.tenant();

type TaskStatus = 'queued' | 'running' | 'succeeded' | 'failed' | 'dead';
const TASK_STATUSES: { value: TaskStatus; label: string }[] = [
  { value: 'queued', label: 'Queued' },
  { value: 'running', label: 'Running' },
  { value: 'succeeded', label: 'Succeeded' },
  { value: 'failed', label: 'Failed (will retry)' },
  { value: 'dead', label: 'Dead (gave up)' },
];
const KEY_ROLES = [
  { value: 'read_only', label: 'Read only' },
  { value: 'operator', label: 'Operator' },
  { value: 'manager', label: 'Manager' },
  { value: 'reseller', label: 'Reseller' },
  { value: 'system_admin', label: 'System admin' },
];

export function Tasks() {
  const [status, setStatus] = useState<string | null>(null);
  const list = usePagedList<Task>((next_token) => ok(admin.GET('/admin/tasks', { params: { query: { tenant_id: tenant_id(), status: (status ?? undefined) as TaskStatus | undefined, next_token } } })), [status]);
  return (
    <>
      <PageTitle right={<Select aria-label="Status" placeholder="Any status" data={TASK_STATUSES} value={status} onChange={setStatus} clearable />}>Router tasks</PageTitle>
      <Loading loading={list.loading && !list.rows} error={list.error} />
      <TaskTable data={list.rows} />
      <LoadMore list={list} what="tasks" />
    </>
  );
}

export function Audit() {
  const [entity, setEntity] = useState('');
  const list = usePagedList<Schemas['AuditPage']['items'][number]>((cursor) => ok(admin.GET('/admin/audit', { params: { query: { tenant_id: tenant_id(), entity_id: entity || undefined, cursor } } })), [entity]);
  return (
    <>
      <PageTitle
        right={
          <Button variant="default" onClick={() => download('/admin/audit/export', 'audit.csv').catch((e: Error) => alert(e.message))}>
            Export CSV
          </Button>
        }
      >
        Audit log
      </PageTitle>
      <Group mb="sm">
        <TextInput label="Object id" value={entity} onChange={(e) => setEntity(e.currentTarget.value)} />
      </Group>
      <Loading loading={list.loading && !list.rows} error={list.error} />
      <DataTable
        caption="Audit log"
        rows={list.rows}
        rowKey={(r) => `${r.entity_id}${r.at}${r.action}`}
        columns={[
          { key: 'at', label: 'When', render: (r) => when(r.at) },
          { key: 'entity_type', label: 'Object' },
          { key: 'entity_id', label: 'Id' },
          { key: 'action', label: 'Action' },
          { key: 'actor_id', label: 'Who' },
          { key: 'after', label: 'Change', render: (r) => <code style={{ fontSize: 11 }}>{JSON.stringify(r.after ?? {})}</code> },
        ]}
      />
      <LoadMore list={list} what="entries" />
    </>
  );
}

export function ApiKeys() {
  const list = useLoad(() => ok(admin.GET('/admin/api-keys', { params: { query: { tenant_id: tenant_id() } } })), []);
  const [name, setName] = useState('');
  const [role, setRole] = useState<string | null>('operator');
  const [created, setCreated] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  async function create() {
    const res = await admin.POST('/admin/api-keys', { body: { name, role: role ?? 'operator', tenant_id: tenant_id() } });
    if (res.error !== undefined || !res.data) return setError(errorText(res.error));
    setCreated(res.data.key);
    list.reload();
  }
  async function revoke(id: string) {
    await admin.DELETE('/admin/api-keys/{key_id}', { params: { path: { key_id: id } } });
    list.reload();
  }
  return (
    <>
      <PageTitle>API keys</PageTitle>
      <Group align="end" mb="md">
        <TextInput label="Name" value={name} onChange={(e) => setName(e.currentTarget.value)} />
        <Select label="Role" data={KEY_ROLES} value={role} onChange={setRole} allowDeselect={false} />
        <Button onClick={create} disabled={!name}>
          Create key
        </Button>
      </Group>
      {error && (
        <Alert color="red" mb="sm" role="alert">
          {error}
        </Alert>
      )}
      {created && (
        <Alert color="green" mb="sm" title="The key is shown only now">
          <Code>{created}</Code>
        </Alert>
      )}
      <Loading loading={list.loading && !list.data} error={list.error} />
      <DataTable
        caption="API keys"
        rows={list.data === undefined ? undefined : rowsOf(list.data)}
        rowKey={(r) => String(r.id)}
        columns={[
          { key: 'name', label: 'Name' },
          { key: 'role', label: 'Role' },
          { key: 'created_at', label: 'Created', render: (r) => when(String(r.created_at ?? '')) },
          { key: 'last_used_at', label: 'Last used', render: (r) => when(String(r.last_used_at ?? '')) },
          { key: 'revoked', label: 'Revoked', render: (r) => (r.revoked ? 'yes' : 'no') },
          { key: 'x', label: 'Revoke', render: (r) => (r.revoked ? null : <Button size="compact-xs" color="red" variant="light" onClick={() => revoke(String(r.id))}>Revoke</Button>) },
        ]}
      />
    </>
  );
}
