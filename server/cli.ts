// `npm run cli -- <command>`: operator tasks that must not need the web console.
import { parseArgs } from 'node:util';
import { createApiKey, parseScopes, revokeApiKey } from './admin/api-keys.ts';
import { createStaffUser } from './admin/staff.ts';
import { openDatabase, readConfig } from './boot.ts';
import { ConfigError } from './config.ts';
import { DatabaseLockedError, type Db } from './db.ts';
import { DomainError } from './errors.ts';
import { createLedger } from './ledger/ledger.ts';
import { messageJson, recentMessages } from './mail/service.ts';

const USAGE = `Usage: npm run cli -- <command> [options]

Commands:
  migrate                                        apply database migrations
  apikey:create --name NAME --scopes LIST        create an API key (scopes: check,send,contacts,events);
                                                 the key is printed once, alone on the last line
  apikey:revoke --id KEY_ID                      revoke an API key
  admin:create --email E --password P --role R   create a console user (roles: owner, staff, customer_admin)
               [--account EXTERNAL_ID] [--name N]  customer_admin needs the account it administers
  ledger:verify                                  check every hash chain of the ledger
  outbox:list [--limit N]                        the newest messages (default 20) with status and
                                                 unsubscribe link, newest first
`;

class UsageError extends Error {}

const origin = { actor: 'system' as const };

async function run(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  const { values } = (() => {
    try {
      return parseArgs({
        args: rest,
        options: {
          name: { type: 'string' },
          scopes: { type: 'string' },
          id: { type: 'string' },
          email: { type: 'string' },
          password: { type: 'string' },
          role: { type: 'string' },
          account: { type: 'string' },
          limit: { type: 'string' },
        },
        strict: true,
        allowPositionals: false,
      });
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
  })();
  const need = (...names: (keyof typeof values)[]) => {
    const missing = names.filter((n) => !values[n]);
    if (missing.length) throw new UsageError(`${command} needs ${missing.map((m) => `--${m}`).join(', ')}`);
  };
  const known = ['migrate', 'apikey:create', 'apikey:revoke', 'admin:create', 'ledger:verify', 'outbox:list'];
  if (command === 'outbox:list' && values.limit !== undefined && !/^[1-9]\d{0,3}$/.test(values.limit))
    throw new UsageError('--limit must be a number from 1 to 9999');
  if (!command || !known.includes(command))
    throw new UsageError(command ? `Unknown command "${command}"` : 'No command given');
  if (command === 'apikey:create') need('name', 'scopes');
  if (command === 'apikey:revoke') need('id');
  if (command === 'admin:create') need('email', 'password', 'role');

  const config = readConfig();
  const ledger = createLedger(config.hashSecret);
  const { db, applied } = await openDatabase(config, true);
  try {
    return await dispatch(command, values, db, ledger, applied);
  } finally {
    await db.close();
  }
}

async function dispatch(
  command: string,
  values: Record<string, string | undefined>,
  db: Db,
  ledger: ReturnType<typeof createLedger>,
  applied: string[],
): Promise<number> {
  switch (command) {
    case 'outbox:list': {
      const rows = await recentMessages(db.knex, Number(values.limit ?? 20));
      if (!rows.length) console.log('No messages yet.');
      for (const m of rows) {
        const msg = messageJson(m);
        console.log(
          `${msg.createdAt}  ${msg.id}  ${msg.status}${msg.reason ? ` (${msg.reason})` : ''}  via ${msg.transport}`,
        );
        console.log(`  to ${msg.to}  topic ${msg.topic}  subject ${JSON.stringify(msg.subject)}`);
        for (const [name, value] of Object.entries(msg.headers)) console.log(`  ${name}: ${value}`);
        if (msg.providerError) console.log(`  provider error: ${msg.providerError}`);
      }
      return 0;
    }
    case 'migrate':
      console.log(
        applied.length
          ? `Applied ${applied.length} migration(s):\n  ${applied.join('\n  ')}`
          : 'Database is up to date.',
      );
      return 0;
    case 'apikey:create': {
      const { key, secret } = await createApiKey(db.knex, ledger, origin, {
        name: values.name as string,
        scopes: parseScopes(values.scopes as string),
      });
      console.log(`Created API key ${key.id} "${key.name}" with scopes ${key.scopes.join(',')}.`);
      console.log('Store it now: it is shown only this once.');
      console.log(secret);
      return 0;
    }
    case 'apikey:revoke': {
      const key = await revokeApiKey(db.knex, ledger, origin, values.id as string);
      console.log(`Revoked API key ${key.id} "${key.name}".`);
      return 0;
    }
    case 'admin:create': {
      const user = await createStaffUser(db.knex, ledger, origin, {
        email: values.email as string,
        password: values.password as string,
        role: values.role as string,
        name: values.name,
        accountExternalId: values.account,
      });
      console.log(`Created ${user.role} ${user.email} (${user.id}).`);
      return 0;
    }
    case 'ledger:verify': {
      const result = await ledger.verify(db.knex, (n) => {
        if (n % 100_000 === 0) process.stderr.write(`  checked ${n} events\n`);
      });
      if (result.ok) {
        console.log(`Ledger intact: ${result.events} events in ${result.chains} chains, every link holds.`);
        return 0;
      }
      console.log(
        `Ledger BROKEN at event ${result.brokenAt.id} (chain ${result.brokenAt.chain}): ${result.brokenAt.problem}. ` +
          `${result.events} events before it verified.`,
      );
      return 1;
    }
  }
  return 2;
}

run(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    if (err instanceof UsageError) {
      process.stderr.write(`${err.message}\n\n${USAGE}`);
      process.exit(2);
    }
    if (err instanceof DomainError) {
      const details = err.details.map((d) => `  - ${d.field ? `${d.field}: ` : ''}${d.message}`).join('\n');
      process.stderr.write(`${err.message}${details ? `\n${details}` : ''}\n`);
      process.exit(err.code === 'validation_failed' ? 2 : 1);
    }
    if (err instanceof ConfigError || err instanceof DatabaseLockedError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(1);
    }
    process.stderr.write(`${(err as Error).stack ?? err}\n`);
    process.exit(1);
  },
);
