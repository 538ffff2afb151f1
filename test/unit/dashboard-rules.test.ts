import { expect } from 'chai';
import { lines, stackedBars } from '../../server/admin/charts.ts';
import {
  complaintRates,
  lastWeeks,
  percent,
  rateLevel,
  seriesOf,
  topSeries,
  weekOf,
} from '../../server/dashboard/rules.ts';

describe('dashboard rules', () => {
  it('puts an instant in the week that starts on its Monday (UTC)', () => {
    expect(weekOf(new Date('2026-11-26T12:00:00Z'))).to.equal('2026-11-23'); // a Thursday
    expect(weekOf(new Date('2026-11-23T00:00:00Z'))).to.equal('2026-11-23'); // Monday 00:00
    expect(weekOf(new Date('2026-11-22T23:59:59Z'))).to.equal('2026-11-16'); // Sunday night
    expect(weekOf(new Date('2027-01-01T08:00:00Z'))).to.equal('2026-12-28'); // across the year
  });

  it('lists the last twelve weeks, oldest first, ending with this one', () => {
    const weeks = lastWeeks(new Date('2026-11-26T12:00:00Z'));
    expect(weeks).to.have.length(12);
    expect(weeks[11]).to.equal('2026-11-23');
    expect(weeks[0]).to.equal('2026-09-07');
  });

  it('makes one series per key with empty weeks at zero, largest first, and folds the tail into "other"', () => {
    const weeks = ['2026-11-09', '2026-11-16', '2026-11-23'];
    const c = (week: string, topic: string, n: number) => ({
      week,
      metric: 'opt_out',
      channel: 'email',
      topic,
      reason: '',
      n,
    });
    const counts = [
      c('2026-11-09', 'a', 1),
      c('2026-11-23', 'a', 2),
      c('2026-11-23', 'b', 5),
      c('2026-11-16', 'c', 1),
      c('2026-11-16', 'd', 1),
    ];
    const series = seriesOf(counts, weeks, 'opt_out', (x) => x.topic);
    expect(series.map((s) => [s.key, s.values])).to.deep.equal([
      ['b', [0, 0, 5]],
      ['a', [1, 0, 2]],
      ['c', [0, 1, 0]],
      ['d', [0, 1, 0]],
    ]);
    const top = topSeries(series, 2);
    expect(top.map((s) => [s.key, s.values])).to.deep.equal([
      ['b', [0, 0, 5]],
      ['a', [1, 0, 2]],
      ['(other)', [0, 2, 0]],
    ]);
  });

  it('rates complaints against delivered marketing mail, with no rate for a week without mail', () => {
    const weeks = ['2026-11-16', '2026-11-23'];
    const counts = [
      { week: '2026-11-23', metric: 'delivered', channel: 'email', topic: 'news', reason: '', n: 2000 },
      {
        week: '2026-11-23',
        metric: 'suppression',
        channel: 'email',
        topic: '',
        reason: 'spam_complaint',
        n: 3,
      },
      { week: '2026-11-23', metric: 'suppression', channel: 'email', topic: '', reason: 'bounce', n: 9 },
    ];
    const rates = complaintRates(counts, weeks);
    expect(rates[0]).to.deep.equal({ week: '2026-11-16', complaints: 0, delivered: 0, rate: null });
    expect(rates[1].rate).to.equal(0.0015);
    expect(rateLevel(rates[1].rate)).to.equal('over_aim');
    expect(rateLevel(0.003)).to.equal('over_limit');
    expect(rateLevel(0.0009)).to.equal('fine');
    expect(rateLevel(null)).to.equal('no_mail');
    expect(percent(0.0015)).to.equal('0.15 %');
  });

  it('draws charts as SVG images that escape their labels', () => {
    const weeks = ['2026-11-16', '2026-11-23'];
    const svg = stackedBars('x', 'Title <b>', 'Summary & more', weeks, [
      { key: 'k', label: '<script>alert(1)</script>', values: [1, 2], total: 3 },
    ]);
    expect(svg).to.match(/^<svg class="chart"[^>]*role="img"/);
    expect(svg).to.include('<title id="x-t">Title &lt;b&gt;</title>');
    expect(svg).to.include('Summary &amp; more');
    expect(svg).not.to.include('<script>');
    expect(svg.match(/<rect /g)).to.have.length(2);
    const line = lines('y', 'Rate', 'S', weeks, [{ label: 'r', values: [null, 0.002] }], {
      refs: [{ label: '0.3 % limit', value: 0.003 }],
    });
    expect(line.match(/<circle /g), 'no point for a week without a value').to.have.length(1);
    expect(line).to.include('0.3 % limit');
  });
});
