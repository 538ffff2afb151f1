import { expect } from 'chai';
import { ConfigError, loadConfig } from '../../server/config.ts';

const good = { TOKEN_SECRET: `k1:${'s'.repeat(40)}`, HASH_SECRET: 'h'.repeat(40) };

function problemsOf(env: Record<string, string>) {
  try {
    loadConfig(env);
  } catch (err) {
    expect(err).to.be.instanceOf(ConfigError);
    return (err as ConfigError).problems;
  }
  return [];
}

describe('loadConfig', () => {
  it('applies the documented defaults', () => {
    const c = loadConfig(good);
    expect(c.port).to.equal(3000);
    expect(c.baseUrl).to.equal('http://localhost:3000');
    expect(c.defaultPhoneRegion).to.equal('US');
    expect(c.sendgridApiUrl).to.equal('https://api.sendgrid.com');
    expect(c.migrateOnStart).to.equal(true);
    expect(c.trustProxy).to.equal(0);
    expect(c.databaseUrl).to.equal(undefined);
  });

  it('refuses to start in production without DATABASE_URL, TOKEN_SECRET, HASH_SECRET and BASE_URL', () => {
    const problems = problemsOf({ NODE_ENV: 'production' });
    for (const name of ['DATABASE_URL', 'TOKEN_SECRET', 'HASH_SECRET', 'BASE_URL']) {
      expect(problems.join('\n')).to.include(`${name} is required when NODE_ENV=production`);
    }
  });

  it('refuses an http BASE_URL in production (RFC 8058 one-click needs https) and takes https', () => {
    const prod = { ...good, NODE_ENV: 'production', DATABASE_URL: 'postgres://db/x' };
    expect(problemsOf({ ...prod, BASE_URL: 'http://prefs.example.com' }).join('\n')).to.match(
      /BASE_URL must be https/,
    );
    expect(problemsOf({ ...prod, BASE_URL: 'https://prefs.example.com' })).to.deep.equal([]);
    // development may use http
    expect(problemsOf({ ...good, BASE_URL: 'http://localhost:3000' })).to.deep.equal([]);
  });

  it('names each bad variable in its message', () => {
    const problems = problemsOf({
      ...good,
      PORT: 'eighty',
      BASE_URL: 'not a url',
      DEFAULT_PHONE_REGION: 'XX',
      TRUST_PROXY: '-1',
      MIGRATE_ON_START: 'maybe',
      DATABASE_URL: 'mysql://x',
      SENDGRID_WEBHOOK_PUBLIC_KEY: 'not-a-key',
      PAGE_RATE_LIMIT: 'lots',
    });
    const text = problems.join('\n');
    for (const name of [
      'PORT',
      'BASE_URL',
      'DEFAULT_PHONE_REGION',
      'TRUST_PROXY',
      'MIGRATE_ON_START',
      'DATABASE_URL',
      'SENDGRID_WEBHOOK_PUBLIC_KEY',
      'PAGE_RATE_LIMIT',
    ]) {
      expect(text).to.include(name);
    }
  });

  it('reads several token keys, first one signing', () => {
    const c = loadConfig({ ...good, TOKEN_SECRET: `new:${'n'.repeat(32)}, old:${'o'.repeat(32)}` });
    expect(c.tokenKeys.map((k) => k.kid)).to.deep.equal(['new', 'old']);
  });

  it('rejects short secrets and duplicate key ids', () => {
    expect(problemsOf({ ...good, TOKEN_SECRET: 'k1:short' }).join()).to.include('at least 32 characters');
    expect(problemsOf({ ...good, HASH_SECRET: 'short' }).join()).to.include('HASH_SECRET');
    const dup = `a:${'x'.repeat(32)},a:${'y'.repeat(32)}`;
    expect(problemsOf({ ...good, TOKEN_SECRET: dup }).join()).to.include('appears twice');
  });

  it('uses generated development secrets only outside production', () => {
    const dev = () => ({ tokenSecret: `dev:${'d'.repeat(40)}`, hashSecret: 'e'.repeat(40) });
    expect(loadConfig({}, { devSecrets: dev }).tokenKeys[0].kid).to.equal('dev');
    expect(() =>
      loadConfig(
        { NODE_ENV: 'production', BASE_URL: 'https://x.test', DATABASE_URL: 'postgres://x/y' },
        { devSecrets: dev },
      ),
    ).to.throw(ConfigError, /TOKEN_SECRET is required/);
  });
});
