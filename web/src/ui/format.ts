export const STATUS_COLORS: Record<string, string> = {
  new: 'blue',
  active: 'green',
  online: 'teal',
  online_24h: 'cyan',
  suspended: 'red',
  blocked: 'red',
  inactive: 'gray',
  cancelled: 'dark',
  free: 'violet',
};

export const STATUS_LABELS: Record<string, string> = {
  new: 'New',
  active: 'Active',
  online: 'Online',
  online_24h: 'Online last 24 h',
  suspended: 'Suspended',
  blocked: 'Blocked',
  inactive: 'Inactive',
  cancelled: 'Cancelled',
  free: 'Free',
};

export function bytes(n: number | null | undefined): string {
  if (n === null || n === undefined) return '—';
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i += 1;
  }
  return `${v.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}

export function duration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined) return '—';
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = Math.floor(seconds % 60);
  return `${h}:${String(m).padStart(2, '0')}:${String(s).padStart(2, '0')}`;
}

export function when(iso: string | null | undefined): string {
  if (!iso) return '—';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString();
}
