// The baseline of SPEC "Service levels": a bare Express route with express.json() doing one
// primary-key select through pg with a pool of 10. Run as its own process by bench/run.ts.
import express from 'express';
import pg from 'pg';

const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 10 });
const id = process.env.BENCH_CONTACT_ID;
const app = express();
app.use(express.json());
app.get('/healthz', (_req, res) => {
  res.json({ status: 'ok' });
});
app.post('/baseline', async (_req, res) => {
  const { rows } = await pool.query({
    name: 'pk',
    text: 'select id, email from contacts where id = $1',
    values: [id],
  });
  res.json(rows[0]);
});
const server = app.listen(Number(process.env.PORT ?? 0), () => {
  const a = server.address();
  process.stdout.write(`listening on http://localhost:${typeof a === 'object' && a ? a.port : 0}\n`);
});
process.on('SIGTERM', () => server.close(() => pool.end().then(() => process.exit(0))));
