// The dashboard's arithmetic, pure: which weeks, what each chart's series are, the complaint
// rate against Gmail's lines, and when a health figure is worth a look.

export const WEEKS = 12;
/** Gmail's bulk-sender lines: keep spam complaints under 0.1 %, never reach 0.3 %. */
export const COMPLAINT_LINES = { aim: 0.001, limit: 0.003 } as const;

const DAY = 24 * 3600_000;

/** The Monday (UTC) of the week holding `at`, as YYYY-MM-DD. */
export function weekOf(at: Date): string {
  const d = new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth(), at.getUTCDate()));
  const back = (d.getUTCDay() + 6) % 7; // Monday 0 … Sunday 6
  return new Date(d.getTime() - back * DAY).toISOString().slice(0, 10);
}

/** The last `n` weeks, oldest first, ending with the current one. */
export function lastWeeks(now: Date, n = WEEKS): string[] {
  const current = new Date(`${weekOf(now)}T00:00:00Z`).getTime();
  return Array.from({ length: n }, (_, i) =>
    new Date(current - (n - 1 - i) * 7 * DAY).toISOString().slice(0, 10),
  );
}

export interface Count {
  week: string;
  metric: string;
  channel: string;
  topic: string;
  reason: string;
  n: number;
}

export interface Series {
  key: string;
  label: string;
  values: number[]; // one per week, oldest first
  total: number;
}

/** Counts of one metric, one series per value of `by`, weeks with none at 0; largest first. */
export function seriesOf(
  counts: Count[],
  weeks: string[],
  metric: string,
  by: (c: Count) => string,
  label: (key: string) => string = (k) => k,
): Series[] {
  const index = new Map(weeks.map((w, i) => [w, i]));
  const out = new Map<string, number[]>();
  for (const c of counts) {
    if (c.metric !== metric) continue;
    const i = index.get(c.week);
    if (i === undefined) continue;
    const key = by(c);
    let values = out.get(key);
    if (!values) {
      values = weeks.map(() => 0);
      out.set(key, values);
    }
    values[i] += c.n;
  }
  return [...out]
    .map(([key, values]) => ({ key, label: label(key), values, total: values.reduce((a, b) => a + b, 0) }))
    .sort((a, b) => b.total - a.total || a.key.localeCompare(b.key));
}

/** Keeps the `keep` largest series and sums the rest into one "other" series. */
export function topSeries(series: Series[], keep: number, otherLabel = 'Other'): Series[] {
  if (series.length <= keep + 1) return series;
  const rest = series.slice(keep);
  const values = rest[0].values.map((_, i) => rest.reduce((a, s) => a + s.values[i], 0));
  return [
    ...series.slice(0, keep),
    { key: '(other)', label: otherLabel, values, total: values.reduce((a, b) => a + b, 0) },
  ];
}

export interface Rate {
  week: string;
  complaints: number;
  delivered: number;
  /** complaints ÷ delivered; null when nothing was delivered that week. */
  rate: number | null;
}

/** Spam complaints (suppressions for a complaint) over delivered marketing mail, per week. */
export function complaintRates(counts: Count[], weeks: string[]): Rate[] {
  return weeks.map((week) => {
    const complaints = counts
      .filter((c) => c.week === week && c.metric === 'suppression' && c.reason === 'spam_complaint')
      .reduce((a, c) => a + c.n, 0);
    const delivered = counts
      .filter((c) => c.week === week && c.metric === 'delivered')
      .reduce((a, c) => a + c.n, 0);
    return { week, complaints, delivered, rate: delivered > 0 ? complaints / delivered : null };
  });
}

export type RateLevel = 'fine' | 'over_aim' | 'over_limit' | 'no_mail';

export function rateLevel(rate: number | null): RateLevel {
  if (rate === null) return 'no_mail';
  if (rate >= COMPLAINT_LINES.limit) return 'over_limit';
  if (rate >= COMPLAINT_LINES.aim) return 'over_aim';
  return 'fine';
}

/** A health figure and whether someone should look at it. */
export interface Health {
  name: string;
  value: string;
  state: 'fine' | 'look';
  hint: string;
}

export const LOOK_AFTER = {
  jobSeconds: 60,
  webhookLagSeconds: 600,
  outboxPendingSeconds: 300,
  rollupSeconds: 300,
} as const;

/** "3 s", "4 min", "2 h", "5 days": an age a person reads at a glance. */
export function age(seconds: number): string {
  if (seconds < 90) return `${Math.round(seconds)} s`;
  if (seconds < 90 * 60) return `${Math.round(seconds / 60)} min`;
  if (seconds < 36 * 3600) return `${Math.round(seconds / 3600)} h`;
  return `${Math.round(seconds / 86400)} days`;
}

/** "0.12 %" with enough digits to compare with 0.1 % and 0.3 %. */
export function percent(rate: number | null): string {
  if (rate === null) return '–';
  return `${(rate * 100).toFixed(rate < 0.0001 && rate > 0 ? 3 : 2)} %`;
}
