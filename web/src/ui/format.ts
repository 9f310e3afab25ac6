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

/** Adds decimal amounts given as strings exactly (no binary rounding), with the most decimals among them.
 * Only amounts of one currency are added together. */
export function addAmounts(values: string[]): string {
  const parsed = values.map((v) => /^(-?)(\d*)(?:\.(\d*))?$/.exec(v.trim()) ?? ['', '', '0', '']);
  const scale = Math.max(0, ...parsed.map((m) => (m[3] ?? '').length));
  let total = 0n;
  for (const m of parsed) {
    const units = BigInt((m[2] || '0') + (m[3] ?? '').padEnd(scale, '0'));
    total += m[1] === '-' ? -units : units;
  }
  const digits = (total < 0n ? -total : total).toString().padStart(scale + 1, '0');
  const text = scale ? `${digits.slice(0, -scale)}.${digits.slice(-scale)}` : digits;
  return total < 0n ? `-${text}` : text;
}

/** An amount with its currency (`25.00 USD`); '—' when there is no amount. */
export function money(amount: unknown, currency: unknown): string {
  if (amount === null || amount === undefined || amount === '') return '—';
  return currency ? `${String(amount)} ${String(currency)}` : String(amount);
}

// Currencies whose amounts do not have 2 decimals (ISO 4217 minor unit): the table the API rounds amounts
// with (functions/core/money.py; a test keeps the two the same).
const CURRENCY_DECIMALS: Record<string, number> = {
  BIF: 0,
  CLP: 0,
  COP: 2,
  DJF: 0,
  GNF: 0,
  ISK: 0,
  JPY: 0,
  KMF: 0,
  KRW: 0,
  PYG: 0,
  RWF: 0,
  UGX: 0,
  UYI: 0,
  VND: 0,
  VUV: 0,
  XAF: 0,
  XOF: 0,
  XPF: 0,
  BHD: 3,
  IQD: 3,
  JOD: 3,
  KWD: 3,
  LYD: 3,
  OMR: 3,
  TND: 3,
  CLF: 4,
  UYW: 4,
};

/** The decimals of an amount in `currency` (2 unless the currency has another minor unit); a record without
 * a currency is in the API's default, USD. */
export function currencyDecimals(currency: string | null | undefined): number {
  return CURRENCY_DECIMALS[(currency || 'USD').toUpperCase()] ?? 2;
}

/** Whether `amount` has no more decimals than `currency` allows (trailing zeros aside). */
export function fitsCurrency(amount: string, currency: string | null | undefined): boolean {
  const decimals = (/\.(\d*)$/.exec(amount.trim())?.[1] ?? '').replace(/0+$/, '').length;
  return decimals <= currencyDecimals(currency);
}
