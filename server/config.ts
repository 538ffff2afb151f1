// Environment is read and validated once, here. Every other module receives a Config and never
// touches process.env, so a bad deployment fails at start with a message naming the variable.
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { isSupportedCountry } from 'libphonenumber-js';
import { brandProblems } from './brand/rules.ts';
import { sendgridPublicKey } from './mail/signature.ts';

export interface TokenKey {
  kid: string;
  secret: Buffer;
}

export interface Config {
  env: 'development' | 'production' | 'test';
  port: number;
  baseUrl: string;
  databaseUrl: string | undefined;
  dataDir: string;
  tokenKeys: TokenKey[];
  hashSecret: Buffer;
  sendgridApiKey: string | undefined;
  sendgridApiUrl: string;
  sendgridWebhookPublicKey: string | undefined;
  mailFrom: string;
  /** Names us in text replies (HELP, STOP); default: MAIL_FROM's display name. */
  brandName: string;
  /** Where HELP sends people; default: BASE_URL/preferences. */
  supportContact: string;
  brandLogoUrl?: string;
  brandColor?: string;
  brandPostalAddress?: string;
  brandPrivacyUrl?: string;
  /** mailto: unsubscribe through SendGrid Inbound Parse: the domain its MX points at, and the URL's secret. */
  inboundEmailDomain?: string;
  inboundEmailToken?: string;
  twilioAuthToken: string | undefined;
  /** With the auth token and TWILIO_FROM: texts go out through Twilio; without: the local outbox. */
  twilioAccountSid: string | undefined;
  twilioFrom: string | undefined;
  /** Twilio's API (a local fake in tests). */
  twilioApiUrl: string;
  defaultPhoneRegion: string;
  trustProxy: number;
  /** Requests per minute per IP on the recipient pages; 0 turns the limit off (benchmarks). */
  pageRateLimit: number;
  metricsToken: string | undefined;
  migrateOnStart: boolean;
  logLevel: string;
  /**
   * How long a provider webhook (SendGrid events, inbound texts) may wait on the database before
   * it answers for a retry (503) or spools the opt-out: providers give up on slow answers.
   */
  webhookBudgetMs: number;
  /** How long an in-progress Idempotency-Key is held without renewal (a crashed request's key frees then). */
  idempotencyLeaseMs: number;
  /** Webhook endpoints may resolve to private addresses even in production. */
  webhookAllowPrivateUrls: boolean;
  /** Run background jobs in the web process (false when a `worker` process runs them). */
  jobsInWeb: boolean;
  /** What a STOP by text revokes: `number` (texts and calls, the FCC revoke-all rule) or `channel`. */
  smsRevocationScope: 'number' | 'channel';
}

export class ConfigError extends Error {
  readonly problems: string[];
  constructor(problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

const MIN_SECRET_LENGTH = 32;

/** `kid:secret,kid2:secret2`; a bare secret gets key id `k1`. The first key signs, all verify. */
export function parseTokenKeys(raw: string, problems: string[]): TokenKey[] {
  const keys: TokenKey[] = [];
  const parts = raw
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean);
  for (const [i, part] of parts.entries()) {
    const colon = part.indexOf(':');
    const kid = colon > 0 ? part.slice(0, colon) : parts.length === 1 ? 'k1' : '';
    const secret = colon > 0 ? part.slice(colon + 1) : part;
    if (!/^[A-Za-z0-9_-]{1,16}$/.test(kid)) {
      problems.push(
        `TOKEN_SECRET entry ${i + 1}: needs a key id of 1-16 letters, digits, '-' or '_' before ':' (e.g. "k2:<secret>")`,
      );
      continue;
    }
    if (secret.length < MIN_SECRET_LENGTH) {
      problems.push(`TOKEN_SECRET key "${kid}": secret must be at least ${MIN_SECRET_LENGTH} characters`);
      continue;
    }
    if (keys.some((k) => k.kid === kid)) {
      problems.push(`TOKEN_SECRET: key id "${kid}" appears twice`);
      continue;
    }
    keys.push({ kid, secret: Buffer.from(secret, 'utf8') });
  }
  if (parts.length === 0) problems.push('TOKEN_SECRET is empty');
  return keys;
}

function parseUrl(name: string, value: string, problems: string[]): string {
  try {
    const u = new URL(value);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('protocol');
    return value.replace(/\/+$/, '');
  } catch {
    problems.push(`${name} must be an absolute http(s) URL, got "${value}"`);
    return '';
  }
}

function parseIntVar(
  name: string,
  value: string | undefined,
  dflt: number,
  min: number,
  max: number,
  problems: string[],
) {
  if (value === undefined || value === '') return dflt;
  if (!/^\d+$/.test(value) || Number(value) < min || Number(value) > max) {
    problems.push(`${name} must be a whole number from ${min} to ${max}, got "${value}"`);
    return dflt;
  }
  return Number(value);
}

function parseBool(name: string, value: string | undefined, dflt: boolean, problems: string[]) {
  if (value === undefined || value === '') return dflt;
  if (/^(true|1|yes)$/i.test(value)) return true;
  if (/^(false|0|no)$/i.test(value)) return false;
  problems.push(`${name} must be true or false, got "${value}"`);
  return dflt;
}

export interface LoadOptions {
  /** Secrets generated once for development live here; defaults to ./data. */
  dataDir?: string;
  /** Development only: where absent TOKEN_SECRET / HASH_SECRET come from. */
  devSecrets?: () => { tokenSecret: string; hashSecret: string };
}

/** Pure apart from the optional devSecrets callback: throws ConfigError naming every bad variable. */
export function loadConfig(env: NodeJS.ProcessEnv, opts: LoadOptions = {}): Config {
  const problems: string[] = [];
  const nodeEnv =
    env.NODE_ENV === 'production' ? 'production' : env.NODE_ENV === 'test' ? 'test' : 'development';
  const isProd = nodeEnv === 'production';

  const port = parseIntVar('PORT', env.PORT, 3000, 0, 65535, problems);
  const trustProxy = parseIntVar('TRUST_PROXY', env.TRUST_PROXY, 0, 0, 10, problems);
  const pageRateLimit = parseIntVar('PAGE_RATE_LIMIT', env.PAGE_RATE_LIMIT, 120, 0, 1_000_000, problems);
  const webhookBudgetMs = parseIntVar(
    'WEBHOOK_DB_BUDGET_MS',
    env.WEBHOOK_DB_BUDGET_MS,
    5000,
    100,
    60_000,
    problems,
  );
  const smsRevocationScope = (env.SMS_REVOCATION_SCOPE || 'number').toLowerCase();
  if (smsRevocationScope !== 'number' && smsRevocationScope !== 'channel') {
    problems.push(`SMS_REVOCATION_SCOPE must be number or channel, got "${env.SMS_REVOCATION_SCOPE}"`);
  }
  const idempotencyLeaseMs =
    parseIntVar('IDEMPOTENCY_LEASE_SECONDS', env.IDEMPOTENCY_LEASE_SECONDS, 60, 2, 3600, problems) * 1000;
  const webhookAllowPrivateUrls = parseBool(
    'WEBHOOK_ALLOW_PRIVATE_URLS',
    env.WEBHOOK_ALLOW_PRIVATE_URLS,
    false,
    problems,
  );
  const twilioApiUrl = parseUrl('TWILIO_API_URL', env.TWILIO_API_URL || 'https://api.twilio.com', problems);
  const jobsInWeb = parseBool('JOBS_IN_WEB', env.JOBS_IN_WEB, true, problems);
  const migrateOnStart = parseBool('MIGRATE_ON_START', env.MIGRATE_ON_START, true, problems);

  if (isProd) {
    for (const name of ['DATABASE_URL', 'TOKEN_SECRET', 'HASH_SECRET', 'BASE_URL'] as const) {
      if (!env[name]) problems.push(`${name} is required when NODE_ENV=production`);
    }
  }
  const baseUrl = env.BASE_URL
    ? parseUrl('BASE_URL', env.BASE_URL, problems)
    : `http://localhost:${port || 3000}`;
  if (isProd && env.BASE_URL && !baseUrl.startsWith('https://')) {
    problems.push(
      `BASE_URL must be https:// when NODE_ENV=production (RFC 8058 one-click links must be https; mail clients ignore others), got "${env.BASE_URL}"`,
    );
  }
  const databaseUrl = env.DATABASE_URL || undefined;
  if (databaseUrl && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    problems.push('DATABASE_URL must start with postgres:// or postgresql://');
  }

  let tokenSecret = env.TOKEN_SECRET;
  let hashSecret = env.HASH_SECRET;
  if ((!tokenSecret || !hashSecret) && !isProd && opts.devSecrets) {
    const dev = opts.devSecrets();
    tokenSecret ||= dev.tokenSecret;
    hashSecret ||= dev.hashSecret;
  }
  const tokenKeys = tokenSecret ? parseTokenKeys(tokenSecret, problems) : [];
  if (!tokenSecret && !isProd) problems.push('TOKEN_SECRET is not set');
  if (hashSecret !== undefined && hashSecret.length < MIN_SECRET_LENGTH) {
    problems.push(
      `HASH_SECRET must be at least ${MIN_SECRET_LENGTH} characters (and must never change once used)`,
    );
  }
  if (!hashSecret && !isProd) problems.push('HASH_SECRET is not set');

  const region = (env.DEFAULT_PHONE_REGION || 'US').toUpperCase();
  if (!isSupportedCountry(region)) {
    problems.push(`DEFAULT_PHONE_REGION must be a two-letter country code such as US or GB, got "${region}"`);
  }
  const sendgridApiUrl = parseUrl(
    'SENDGRID_API_URL',
    env.SENDGRID_API_URL || 'https://api.sendgrid.com',
    problems,
  );
  const mailFrom = env.MAIL_FROM || 'Preferences <no-reply@localhost>';
  if (!/@/.test(mailFrom)) problems.push(`MAIL_FROM must contain an email address, got "${mailFrom}"`);
  const brandName = (env.BRAND_NAME || /^([^<]+)</.exec(mailFrom)?.[1]?.trim() || 'Preferences').slice(0, 60);
  const brandEnv = {
    logoUrl: env.BRAND_LOGO_URL?.trim() || undefined,
    color: env.BRAND_COLOR?.trim() || undefined,
    postalAddress: env.BRAND_POSTAL_ADDRESS?.trim() || undefined,
    privacyUrl: env.BRAND_PRIVACY_URL?.trim() || undefined,
  };
  for (const p of brandProblems({ ...brandEnv, name: brandName, supportContact: 'x' })) {
    const variable = {
      logoUrl: 'BRAND_LOGO_URL',
      color: 'BRAND_COLOR',
      postalAddress: 'BRAND_POSTAL_ADDRESS',
      privacyUrl: 'BRAND_PRIVACY_URL',
      name: 'BRAND_NAME',
      supportContact: 'SUPPORT_CONTACT',
    }[p.field];
    problems.push(`${variable} must be ${p.message}`);
  }
  const inboundDomain = env.INBOUND_EMAIL_DOMAIN?.trim().toLowerCase() || undefined;
  const inboundToken = env.INBOUND_EMAIL_TOKEN?.trim() || undefined;
  if (
    inboundDomain &&
    !/^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/.test(inboundDomain)
  )
    problems.push(
      `INBOUND_EMAIL_DOMAIN must be a domain name such as unsubscribe.example.com, got "${inboundDomain}"`,
    );
  if (inboundDomain && (!inboundToken || !/^[A-Za-z0-9_-]{24,200}$/.test(inboundToken)))
    problems.push(
      'INBOUND_EMAIL_TOKEN must be set with INBOUND_EMAIL_DOMAIN: 24 or more letters, digits, - or _ (it is the secret part of the Inbound Parse URL)',
    );
  const webhookKey = env.SENDGRID_WEBHOOK_PUBLIC_KEY?.trim();
  if (webhookKey) {
    try {
      sendgridPublicKey(webhookKey);
    } catch {
      problems.push(
        "SENDGRID_WEBHOOK_PUBLIC_KEY is not a valid ECDSA public key (paste the verification key from SendGrid's Mail Settings)",
      );
    }
  }

  const logLevel = env.LOG_LEVEL || (nodeEnv === 'test' ? 'silent' : 'info');
  if (!['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].includes(logLevel)) {
    problems.push(
      `LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent; got "${logLevel}"`,
    );
  }

  if (problems.length) throw new ConfigError(problems);
  return {
    env: nodeEnv,
    port,
    baseUrl,
    databaseUrl,
    dataDir: opts.dataDir ?? path.resolve('data'),
    tokenKeys,
    hashSecret: Buffer.from(hashSecret as string, 'utf8'),
    sendgridApiKey: env.SENDGRID_API_KEY || undefined,
    sendgridApiUrl,
    sendgridWebhookPublicKey: webhookKey || undefined,
    mailFrom,
    brandName,
    supportContact: env.SUPPORT_CONTACT || `${baseUrl}/preferences`,
    brandLogoUrl: brandEnv.logoUrl,
    brandColor: brandEnv.color?.toLowerCase(),
    brandPostalAddress: brandEnv.postalAddress,
    brandPrivacyUrl: brandEnv.privacyUrl,
    inboundEmailDomain: inboundDomain,
    inboundEmailToken: inboundDomain ? inboundToken : undefined,
    twilioAuthToken: env.TWILIO_AUTH_TOKEN || undefined,
    twilioAccountSid: env.TWILIO_ACCOUNT_SID || undefined,
    twilioFrom: env.TWILIO_FROM || undefined,
    twilioApiUrl,
    defaultPhoneRegion: region,
    trustProxy,
    pageRateLimit,
    metricsToken: env.METRICS_TOKEN || undefined,
    migrateOnStart,
    logLevel,
    webhookBudgetMs,
    jobsInWeb,
    webhookAllowPrivateUrls,
    idempotencyLeaseMs,
    smsRevocationScope: smsRevocationScope as Config['smsRevocationScope'],
  };
}

/**
 * Development convenience: secrets generated once and kept in the data directory, so links
 * sent yesterday still verify today. Never used in production (HASH_SECRET must not change).
 */
export function devSecretsIn(dataDir: string) {
  return () => {
    const file = path.join(dataDir, 'secrets.json');
    try {
      return JSON.parse(readFileSync(file, 'utf8')) as { tokenSecret: string; hashSecret: string };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    mkdirSync(dataDir, { recursive: true });
    const secrets = {
      tokenSecret: `dev:${randomBytes(32).toString('base64url')}`,
      hashSecret: randomBytes(32).toString('base64url'),
    };
    writeFileSync(file, `${JSON.stringify(secrets, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
    return secrets;
  };
}
