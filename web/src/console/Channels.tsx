import { Alert, Button, FileInput, Group, Progress, Select, Stack, Text } from '@mantine/core';
import { useState } from 'react';
import { admin, download, errorText, ok, rowsOf, session, type Schemas } from '../api/client';
import { DataTable, Loading, PageTitle, useLoad } from '../ui/common';
import { when } from '../ui/format';
import { LoadMore, usePagedList } from '../ui/paging';

const tenant_id = () => session.tenant();
const s = (x: unknown) => (x === null || x === undefined || x === '' ? '—' : String(x));

export function Batches() {
  const list = useLoad(() => ok(admin.GET('/admin/voucher-batches', { params: { query: { tenant_id: tenant_id() } } })), []);
  const products = useLoad(() => ok(admin.GET('/admin/products', { params: { query: { tenant_id: tenant_id() } } })), []);
  const [product, setProduct] = useState<string | null>(null);
  const [count, setCount] = useState<string | null>('10');
  const [msg, setMsg] = useState<string | null>(null);
  async function generate() {
    const res = await admin.POST('/admin/voucher-batches', { body: { product_id: product ?? '', count: Number(count), tenant_id: tenant_id() } });
    setMsg(res.error !== undefined ? errorText(res.error) : `Batch ${res.data?.id} generated`);
    list.reload();
  }
  return (
    <>
      <PageTitle>Card batches</PageTitle>
      <Group align="end" mb="md">
        <Select label="Plan" data={rowsOf<Schemas['ProductOut']>(products.data).map((p) => ({ value: p.id, label: p.name }))} value={product} onChange={setProduct} w={220} />
        <Select label="Cards" data={['10', '20', '50', '100', '500']} value={count} onChange={setCount} w={100} />
        <Button onClick={generate} disabled={!product}>
          Generate batch
        </Button>
      </Group>
      {msg && <Alert mb="sm">{msg}</Alert>}
      <Loading loading={list.loading && !list.data} error={list.error} />
      <DataTable
        caption="Card batches"
        rows={list.data?.items}
        rowKey={(r) => r.id}
        columns={[
          { key: 'name', label: 'Batch', render: (r) => r.name ?? r.id },
          { key: 'product_id', label: 'Plan' },
          { key: 'count', label: 'Cards', align: 'right' },
          { key: 'price', label: 'Price', align: 'right' },
          { key: 'status', label: 'Status' },
          { key: 'created_at', label: 'Created', render: (r) => when(r.created_at) },
          {
            key: 'print',
            label: 'Print',
            render: (r) => (
              <Group gap={4}>
                <Button size="compact-xs" onClick={() => download(`/admin/voucher-batches/${r.id}/cards.pdf`, `cards-${r.id}.pdf`).catch((e: Error) => alert(e.message))}>
                  PDF
                </Button>
                <Button size="compact-xs" variant="default" onClick={() => download(`/admin/voucher-batches/${r.id}/export`, `cards-${r.id}.csv`).catch((e: Error) => alert(e.message))}>
                  CSV
                </Button>
              </Group>
            ),
          },
        ]}
      />
    </>
  );
}

export function Imports() {
  const jobs = usePagedList<Schemas['JobOut']>((cursor) => ok(admin.GET('/admin/imports', { params: { query: { tenant_id: tenant_id(), cursor } } })), []);
  const [file, setFile] = useState<File | null>(null);
  const [preview, setPreview] = useState<Schemas['ImportOut'] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [progress, setProgress] = useState<Record<string, unknown> | null>(null);
  async function upload() {
    if (!file) return;
    setError(null);
    const res = await fetch(`/admin/imports?${new URLSearchParams({ filename: file.name, ...(tenant_id() ? { tenant_id: tenant_id()! } : {}) })}`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${session.operator()?.token ?? ''}`, 'Content-Type': 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet' },
      body: file,
    });
    const body = await res.json();
    if (!res.ok) return setError(errorText(body));
    setPreview(body as Schemas['ImportOut']);
    jobs.reload();
  }
  async function commit() {
    const job = (preview?.job as { id?: string } | undefined)?.id;
    if (!job) return;
    const res = await admin.POST('/admin/imports/{job_id}/commit', { params: { path: { job_id: job } }, body: {} });
    if (res.error !== undefined) return setError(errorText(res.error));
    for (let i = 0; i < 600; i++) {
      const j = await ok(admin.GET('/admin/imports/{job_id}', { params: { path: { job_id: job } } }));
      setProgress(j as Record<string, unknown>);
      const st = String((j as { status?: string }).status ?? '');
      if (!['queued', 'running', 'committing'].includes(st)) break;
      await new Promise((r) => setTimeout(r, 1000));
    }
    jobs.reload();
  }
  const done = Number(progress?.processed ?? progress?.done ?? 0);
  const total = Number(progress?.total ?? (preview?.summary as { rows?: number } | undefined)?.rows ?? 0);
  return (
    <>
      <PageTitle>Imports</PageTitle>
      <Stack mb="md">
        <Group align="end">
          <FileInput label="Spreadsheet (XLSX)" accept=".xlsx" value={file} onChange={setFile} w={300} />
          <Button onClick={upload} disabled={!file}>
            Upload and preview
          </Button>
        </Group>
        {error && (
          <Alert color="red" role="alert">
            {error}
          </Alert>
        )}
        {preview && (
          <>
            <Text size="sm">Summary: {JSON.stringify(preview.summary)}</Text>
            <DataTable
              caption="Preview per row"
              rows={preview.rows as unknown as Record<string, unknown>[]}
              rowKey={(r) => s(r.row ?? r.index)}
              columns={[
                { key: 'row', label: 'Row' },
                { key: 'action', label: 'Action' },
                { key: 'username', label: 'Username' },
                { key: 'errors', label: 'Problems', render: (r) => s(JSON.stringify(r.errors ?? r.error ?? '')) },
              ]}
            />
            <Button onClick={commit}>Commit</Button>
          </>
        )}
        {progress && <Progress value={total ? (done / total) * 100 : 100} aria-label="Import progress" size="lg" />}
      </Stack>
      <Loading loading={jobs.loading && !jobs.rows} error={jobs.error} />
      <DataTable
        caption="Import jobs"
        rows={jobs.rows}
        rowKey={(r) => r.id}
        columns={[
          { key: 'id', label: 'Job' },
          { key: 'filename', label: 'File', render: (r) => s(r.result?.filename) },
          { key: 'status', label: 'Status' },
          { key: 'created_at', label: 'Created', render: (r) => when(r.created_at) },
        ]}
      />
      <LoadMore list={jobs} what="imports" />
    </>
  );
}
