// docs/operations.md is written by hand from the code: these checks fail when the code grows an
// error code or a metric the page does not explain.
import { readFileSync } from 'node:fs';
import { expect } from 'chai';
import { STATUS } from '../../server/http/error-handler.ts';
import { createMetrics } from '../../server/http/metrics.ts';

const ops = readFileSync(new URL('../../docs/operations.md', import.meta.url), 'utf8');

describe('docs/operations.md', () => {
  it('lists every error code with the status the edge gives it', () => {
    for (const [code, status] of Object.entries(STATUS)) {
      expect(ops, code).to.match(new RegExp(`\\| \`${code}\` \\| ${status} \\|`));
    }
  });

  it('explains every metric the service exports', async () => {
    const metrics = createMetrics();
    const names = (await metrics.registry.getMetricsAsJSON()).map((m) => m.name);
    for (const extra of ['job_queue_oldest_seconds', 'webhook_lag_seconds']) names.push(extra);
    for (const name of names.filter((n) => !n.startsWith('process_') && !n.startsWith('nodejs_'))) {
      expect(ops, name).to.include(`\`${name}\``);
    }
  });
});
