// Console: the dashboard, the first page after sign-in (SPEC "Pages" /admin). Twelve weeks of
// what the ledger knows, as charts drawn on the server with a table and a summary each; the
// health of the loss paths; and the compliance warnings an owner must act on. A customer
// administrator sees their own account's figures and imports.
import { Router } from 'express';
import type { AppContext } from '../app.ts';
import { currentBrand } from '../brand/service.ts';
import {
  age,
  COMPLAINT_LINES,
  complaintRates,
  type Health,
  LOOK_AFTER,
  percent,
  rateLevel,
  type Series,
  seriesOf,
  topSeries,
} from '../dashboard/rules.ts';
import { dashboardFigures, dashboardHealth } from '../dashboard/service.ts';
import { topicList } from '../preferences/service.ts';
import { webhookLag } from '../webhooks/service.ts';
import { lines, PALETTE, stackedBars } from './charts.ts';
import { can, render } from './render.ts';
import { ownAccount } from './service.ts';

const CHANNEL = { email: 'email', sms: 'texts', voice: 'calls' } as Record<string, string>;
const REASONS: Record<string, string> = {
  too_many: 'Too many emails',
  not_relevant: 'Not relevant',
  never_signed_up: 'Never signed up',
  other: 'Other',
  bounce: 'Bounced',
  spam_complaint: 'Spam complaint',
  manual: 'Added by staff',
  erasure: 'Erased',
};

interface Chart {
  id: string;
  title: string;
  summary: string;
  svg: string;
  legend: { label: string; colour: string }[];
  table: { head: string[]; rows: string[][] };
}

const weekLabel = (w: string) =>
  new Date(`${w}T00:00:00Z`).toLocaleDateString('en', { month: 'short', day: 'numeric', timeZone: 'UTC' });
const n = (x: number) => x.toLocaleString('en');

function tableOf(weeks: string[], series: { label: string; values: (number | null)[] }[], fmt = n) {
  return {
    head: ['Week of', ...series.map((s) => s.label)],
    rows: weeks.map((w, i) => [
      weekLabel(w),
      ...series.map((s) => (s.values[i] === null ? '–' : fmt(s.values[i] ?? 0))),
    ]),
  };
}

function barChart(id: string, title: string, weeks: string[], series: Series[], what: string): Chart {
  const total = series.reduce((a, s) => a + s.total, 0);
  const thisWeek = series.reduce((a, s) => a + s.values[s.values.length - 1], 0);
  const lead = series[0];
  const summary =
    total === 0
      ? `No ${what} in the last ${weeks.length} weeks.`
      : `${n(total)} ${what} in the last ${weeks.length} weeks, ${n(thisWeek)} this week. The most: ${lead.label} (${n(lead.total)}).`;
  return {
    id,
    title,
    summary,
    svg: stackedBars(id, title, summary, weeks, series),
    legend: series.map((s, i) => ({
      label: `${s.label} (${n(s.total)})`,
      colour: PALETTE[i % PALETTE.length],
    })),
    table: tableOf(weeks, series),
  };
}

function lineChart(
  id: string,
  title: string,
  summary: string,
  weeks: string[],
  series: { label: string; values: (number | null)[] }[],
  opts: Parameters<typeof lines>[5] = {},
): Chart {
  return {
    id,
    title,
    summary,
    svg: lines(id, title, summary, weeks, series, opts),
    legend: series.map((s, i) => ({ label: s.label, colour: PALETTE[i % PALETTE.length] })),
    table: tableOf(weeks, series, opts.format ?? n),
  };
}

export function dashboardPage(ctx: AppContext) {
  const r = Router();

  r.get('/admin', can('owner', 'staff', 'customer_admin'), async (req, res) => {
    const staff = req.staff as NonNullable<typeof req.staff>;
    const operator = staff.role !== 'customer_admin';
    // A customer administrator always has an account (the database holds them to one).
    const accountId = operator ? null : (staff.accountId as string);
    const now = ctx.now();
    const [figures, topics, health] = await Promise.all([
      dashboardFigures(ctx, accountId, now),
      topicList(ctx),
      dashboardHealth(ctx, accountId, now),
    ]);
    const { weeks, counts } = figures;
    const topicName = (slug: string) =>
      slug === '*' || slug === '' ? 'all marketing' : (topics.find((t) => t.slug === slug)?.name ?? slug);

    const optOuts = topSeries(
      seriesOf(
        counts,
        weeks,
        'opt_out',
        (c) => `${c.channel}:${c.topic}`,
        (key) => {
          const [channel, topic] = key.split(':');
          return `${topicName(topic)} by ${CHANNEL[channel] ?? channel}`;
        },
      ),
      PALETTE.length - 1,
    );
    const byReason = (metric: string) =>
      seriesOf(
        counts,
        weeks,
        metric,
        (c) => c.reason,
        (k) => REASONS[k] ?? k,
      );
    const reasons = byReason('reason');
    const suppressions = byReason('suppression');
    const rates = complaintRates(counts, weeks);
    const perWeek = (metric: string) =>
      weeks.map((w) =>
        counts.filter((c) => c.week === w && c.metric === metric).reduce((a, c) => a + c.n, 0),
      );
    const granted = perWeek('consent_granted');
    const revoked = perWeek('consent_revoked');
    const pausesStarted = perWeek('pause_started');
    const pausesEnded = perWeek('pause_ended');
    const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

    const latestRate = [...rates].reverse().find((r) => r.rate !== null) ?? null;
    const over = rates.filter((r) => rateLevel(r.rate) === 'over_limit').length;
    const rateSummary = latestRate
      ? `Latest week with mail delivered (${weekLabel(latestRate.week)}): ${percent(latestRate.rate)} (${n(latestRate.complaints)} complaints, ${n(latestRate.delivered)} delivered). Gmail asks for under 0.1 % and never 0.3 %; ${over ? `${over} week${over === 1 ? '' : 's'} reached 0.3 %` : 'no week reached 0.3 %'}.`
      : 'No marketing mail was delivered through the gateway in these weeks, so there is no rate yet.';

    const charts: Chart[] = [
      barChart('optouts', 'Opt-outs per week, by topic and channel', weeks, optOuts, 'opt-outs'),
      barChart('reasons', 'Reasons given for leaving', weeks, reasons, 'reasons given'),
      lineChart(
        'complaints',
        'Spam-complaint rate per week',
        rateSummary,
        weeks,
        [{ label: 'Complaints ÷ delivered marketing mail', values: rates.map((r) => r.rate) }],
        {
          format: (x) => percent(x),
          // The scale always reaches past the 0.3 % line, so a quiet week reads as quiet.
          minTop: COMPLAINT_LINES.limit * 1.25,
          refs: [
            { label: '0.1 % aim', value: COMPLAINT_LINES.aim },
            { label: '0.3 % limit', value: COMPLAINT_LINES.limit },
          ],
        },
      ),
      lineChart(
        'consents',
        'Consents to be called or texted, granted and revoked',
        `${n(sum(granted))} granted and ${n(sum(revoked))} revoked in the last ${weeks.length} weeks; this week ${n(granted[granted.length - 1])} and ${n(revoked[revoked.length - 1])}.`,
        weeks,
        [
          { label: 'Granted', values: granted },
          { label: 'Revoked', values: revoked },
        ],
      ),
      barChart('suppressions', 'Suppressions by reason', weeks, suppressions, 'addresses suppressed'),
      lineChart(
        'pauses',
        'Pauses started and ended',
        `${n(sum(pausesStarted))} pauses started and ${n(sum(pausesEnded))} ended in the last ${weeks.length} weeks.`,
        weeks,
        [
          { label: 'Started', values: pausesStarted },
          { label: 'Ended', values: pausesEnded },
        ],
      ),
    ];
    // The complaint table also shows the counts behind each rate.
    const complaintChart = charts[2];
    complaintChart.table = {
      head: ['Week of', 'Complaints', 'Delivered', 'Rate'],
      rows: rates.map((r) => [weekLabel(r.week), n(r.complaints), n(r.delivered), percent(r.rate)]),
    };

    // ---- health ----
    const seconds = (d: Date | null | undefined) =>
      d ? Math.max(0, (now.getTime() - new Date(d).getTime()) / 1000) : 0;
    const healthRows: Health[] = [];
    const running = health.imports.filter((i) => i.status === 'pending' || i.status === 'running');
    const failedImports = health.imports.find((i) => i.status === 'failed')?.n ?? 0;
    healthRows.push({
      name: 'Imports',
      value: `${n(running.reduce((a, i) => a + i.n, 0))} running or waiting; ${n(failedImports)} failed in 24 h`,
      state: failedImports > 0 ? 'look' : 'fine',
      hint: failedImports > 0 ? 'Open Import to see what failed and why.' : '',
    });
    let lag: { id: string; state: string; lag: number }[] = [];
    if (operator) {
      const [ages, depth, lags] = await Promise.all([
        ctx.jobs.queueAges().catch(() => ({}) as Record<string, number>),
        ctx.spool.depth().catch(() => 0),
        webhookLag(ctx).catch(() => []),
      ]);
      lag = lags;
      const outbox = health.outbox as NonNullable<typeof health.outbox>;
      const pendingAge = seconds(outbox.oldest_pending);
      healthRows.push({
        name: 'Outbox',
        value: `${n(outbox.pending)} waiting${outbox.pending ? ` (oldest ${age(pendingAge)})` : ''}; ${n(outbox.failed)} failed in 24 h`,
        state: pendingAge > LOOK_AFTER.outboxPendingSeconds || outbox.failed > 0 ? 'look' : 'fine',
        hint: outbox.failed > 0 ? 'Open Outbox: failed messages show the provider’s error.' : '',
      });
      const oldestJob = Math.max(0, ...Object.values(ages));
      healthRows.push({
        name: 'Job queue',
        value: oldestJob ? `oldest waiting job ${age(oldestJob)}` : 'nothing waiting',
        state: oldestJob > LOOK_AFTER.jobSeconds ? 'look' : 'fine',
        hint:
          oldestJob > LOOK_AFTER.jobSeconds ? 'Is a worker running? Link mails should leave within 5 s.' : '',
      });
      healthRows.push({
        name: 'Opt-outs received, not yet applied',
        value: `${n(depth)} in the spool`,
        state: depth > 0 ? 'look' : 'fine',
        hint:
          depth > 0
            ? 'They are applied as soon as the database answers; if this stays above 0, check the database.'
            : '',
      });
      for (const l of lags) {
        healthRows.push({
          name: `Webhook ${l.id.slice(0, 8)}`,
          value: l.state === 'paused' ? 'paused' : l.lag ? `${age(l.lag)} behind` : 'caught up',
          state: l.state === 'paused' || l.lag > LOOK_AFTER.webhookLagSeconds ? 'look' : 'fine',
          hint:
            l.state === 'paused' ? 'Paused after failing for 3 days: fix the endpoint, then resume it.' : '',
        });
      }
      const head = health.head;
      healthRows.push({
        name: 'Events feed',
        value: head ? `position ${n(head.seq)}, newest event ${age(seconds(head.at))} ago` : 'empty',
        state: 'fine',
        hint: '',
      });
    }
    const rollupAge = seconds(health.rolled.rolledAt);
    healthRows.push({
      name: 'Dashboard figures',
      value: figures.lagging
        ? `behind: more than ${n(figures.live)} events wait to be counted`
        : `live (rolled up ${age(rollupAge)} ago, ${n(figures.live)} newer events added)`,
      state: figures.lagging || rollupAge > LOOK_AFTER.rollupSeconds ? 'look' : 'fine',
      hint: figures.lagging
        ? 'The roll-up runs every minute in the web or worker process: is one running?'
        : '',
    });

    // ---- compliance ----
    const warnings: { text: string; href?: string }[] = [];
    if (operator) {
      const brand = await currentBrand(ctx);
      if (!brand.postalAddress)
        warnings.push({
          text: 'No postal address is set: CAN-SPAM wants one in every marketing email, and the gateway cannot add it.',
          href: staff.role === 'owner' ? '/admin/brand' : undefined,
        });
      if (!ctx.config.baseUrl.startsWith('https:'))
        warnings.push({
          text: `BASE_URL is ${ctx.config.baseUrl}: unsubscribe links must be https for Gmail's one-click button and for people's trust.`,
        });
      const paused = lag.filter((l) => l.state === 'paused').length;
      if (paused)
        warnings.push({
          text: `${paused} webhook endpoint${paused === 1 ? ' is' : 's are'} paused: their systems are not hearing about opt-outs.`,
          href: staff.role === 'owner' ? '/admin/webhooks' : undefined,
        });
    }
    const overdue = Number(res.locals.overdueDeletions ?? 0);
    if (overdue)
      warnings.push({
        text: `${overdue} deletion request${overdue === 1 ? ' is' : 's are'} past their 45 days.`,
        href: '/admin/data-requests',
      });

    // A customer administrator sees their own account and its agreement first.
    const account = accountId ? await ownAccount(ctx, accountId) : null;
    render(req, res, 'dashboard', 'Dashboard', {
      account,
      charts,
      healthRows,
      warnings,
      scopeNote: accountId ? 'Figures for your account’s contacts.' : 'Figures for every account.',
      weeksCount: weeks.length,
    });
  });

  return r;
}
