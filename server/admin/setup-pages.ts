import { Router } from 'express';
import type { AppContext } from '../app.ts';
import { BRAND_FIELDS, brandDefaults, currentBrand } from '../brand/service.ts';
import { upsertAccount } from '../contacts/service.ts';
import { AGREEMENT_STATUSES, type AgreementStatus, CHANNELS } from '../domain.ts';
import { DomainError } from '../errors.ts';
import { field, fieldValues } from '../http/form-body.ts';
import { parseInstant, parseWhole } from '../http/validate.ts';
import { listTopics, saveTopic } from '../preferences/service.ts';
import { createApiKey, listApiKeys, parseScopes, revokeApiKey, SCOPES } from './api-keys.ts';
import { can, originOf, render } from './render.ts';
import { listAccounts, saveBrandEverywhere } from './service.ts';

export function setupPages(ctx: AppContext) {
  const r = Router();
  // ---- accounts ---------------------------------------------------------------------------
  r.get('/admin/accounts', can('owner', 'staff'), async (req, res) => {
    render(req, res, 'accounts', 'Accounts and agreements', { accounts: await listAccounts(ctx) });
  });

  r.post('/admin/accounts', can('owner', 'staff'), async (req, res) => {
    const externalId = (field(req, 'externalId') ?? '').trim();
    const status = field(req, 'status') as AgreementStatus;
    const details: { field: string; message: string }[] = [];
    if (!/^[\w.:-]{1,200}$/.test(externalId))
      details.push({ field: 'externalId', message: 'letters, digits, . _ : - (up to 200)' });
    if (!(AGREEMENT_STATUSES as readonly string[]).includes(status))
      details.push({ field: 'status', message: 'none, signed or terminated' });
    const signedAtRaw = field(req, 'signedAt') ?? '';
    const signedAt = signedAtRaw ? parseInstant(signedAtRaw) : null;
    const reference = (field(req, 'reference') ?? '').trim() || null;
    if (status === 'signed' && (!signedAt || Number.isNaN(signedAt.getTime())))
      details.push({ field: 'signedAt', message: 'the date the agreement was signed' });
    if (status === 'signed' && !reference)
      details.push({ field: 'reference', message: 'the agreement reference' });
    if (details.length) throw new DomainError('validation_failed', 'The account was not saved.', details);
    const name = (field(req, 'name') ?? '').trim();
    await upsertAccount(ctx, originOf(req), externalId, {
      ...(name ? { name: name.slice(0, 200) } : {}),
      agreement: {
        status,
        signedAt: status === 'signed' ? signedAt : null,
        reference: status === 'signed' ? reference : null,
      },
    });
    res.redirect(303, '/admin/accounts?done=saved');
  });

  // ---- brand (owners) --------------------------------------------------------------------
  r.get('/admin/brand', can('owner'), async (req, res) => {
    render(req, res, 'brand', 'Brand', {
      current: await currentBrand(ctx),
      defaults: brandDefaults(ctx.config),
    });
  });

  r.post('/admin/brand', can('owner'), async (req, res) => {
    const input = Object.fromEntries(BRAND_FIELDS.map((f) => [f, field(req, f) ?? null]));
    const { changed } = await saveBrandEverywhere(ctx, originOf(req), input);
    res.redirect(303, `/admin/brand?done=${changed.length ? 'saved' : 'nothing_changed'}`);
  });

  // ---- topics -----------------------------------------------------------------------------
  r.get('/admin/topics', can('owner', 'staff'), async (req, res) => {
    render(req, res, 'topics', 'Topics', { topics: await listTopics(ctx), channels: CHANNELS });
  });

  r.post('/admin/topics', can('owner', 'staff'), async (req, res) => {
    const slug = (field(req, 'slug') ?? '').trim();
    const isNew = field(req, 'new') === 'yes';
    const name = (field(req, 'name') ?? '').trim();
    const kind = field(req, 'kind');
    const channels = CHANNELS.filter((c) => fieldValues(req, 'channels').includes(c));
    const groupRaw = (field(req, 'sendgridGroupId') ?? '').trim();
    const details: { field: string; message: string }[] = [];
    if (!/^[a-z0-9][a-z0-9-]{0,62}$/.test(slug))
      details.push({ field: 'slug', message: 'lower-case letters, digits and dashes' });
    if (!name || name.length > 200) details.push({ field: 'name', message: '1 to 200 characters' });
    if (kind !== 'marketing' && kind !== 'operational')
      details.push({ field: 'kind', message: 'marketing or operational' });
    if (!channels.length) details.push({ field: 'channels', message: 'at least one channel' });
    if (groupRaw && !/^\d{1,9}$/.test(groupRaw))
      details.push({ field: 'sendgridGroupId', message: 'a number' });
    if (details.length) throw new DomainError('validation_failed', 'The topic was not saved.', details);
    await saveTopic(
      ctx,
      originOf(req),
      {
        slug,
        name,
        description: (field(req, 'description') ?? '').trim().slice(0, 1000) || null,
        kind: kind as 'marketing' | 'operational',
        channels,
        sendgridGroupId: groupRaw ? parseWhole(groupRaw) : null,
        confirm: field(req, 'confirm'),
      },
      isNew,
    );
    res.redirect(303, '/admin/topics?done=saved');
  });

  // ---- API keys and users (owner) ---------------------------------------------------------
  r.get('/admin/api-keys', can('owner'), async (req, res) => {
    render(req, res, 'api-keys', 'API keys', {
      keys: await listApiKeys(ctx),
      scopes: SCOPES,
      secret: null,
    });
  });

  r.post('/admin/api-keys', can('owner'), async (req, res) => {
    const name = (field(req, 'name') ?? '').trim();
    const scopes = fieldValues(req, 'scopes');
    if (!name || name.length > 200)
      throw new DomainError('validation_failed', 'Give the key a name (what uses it).', [
        { field: 'name', message: '1 to 200 characters' },
      ]);
    const { secret } = await createApiKey(ctx, ctx.ledger, originOf(req), {
      name,
      scopes: parseScopes(scopes),
    });
    // The secret is shown once, on this response, and never stored.
    render(req, res, 'api-keys', 'API keys', {
      keys: await listApiKeys(ctx),
      scopes: SCOPES,
      secret,
    });
  });

  r.post('/admin/api-keys/:id/revoke', can('owner'), async (req, res) => {
    const id = String(req.params.id);
    await revokeApiKey(ctx, ctx.ledger, originOf(req), id);
    ctx.apiAuth.forget(id);
    res.redirect(303, '/admin/api-keys?done=revoked');
  });

  return r;
}
