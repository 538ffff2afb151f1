// Console: deletion requests from recipients, to approve (erasure) or decline with a reason within
// 45 days. A customer administrator sees and decides their own account's; overdue ones stand out.
import { Router } from 'express';
import type { AppContext } from '../app.ts';
import { DomainError } from '../errors.ts';
import { field } from '../http/form-body.ts';
import { decideDeletion, deletionRequests } from '../requests/service.ts';
import { can, originOf, render } from './render.ts';

export function requestPages(ctx: AppContext) {
  const r = Router();
  const scope = (role: string, accountId: string | null) => (role === 'customer_admin' ? accountId : null);

  r.get('/admin/data-requests', can('owner', 'staff', 'customer_admin'), async (req, res) => {
    const staff = req.staff as NonNullable<typeof req.staff>;
    const rows = await deletionRequests(ctx, scope(staff.role, staff.accountId ?? null));
    const now = ctx.now().getTime();
    render(req, res, 'data-requests', 'Data requests', {
      rows: rows.map((row) => ({
        ...row,
        overdue: row.status === 'pending' && new Date(row.due_at).getTime() < now,
      })),
    });
  });

  for (const decision of ['approve', 'decline'] as const) {
    r.post(
      `/admin/data-requests/:id/${decision}`,
      can('owner', 'staff', 'customer_admin'),
      async (req, res) => {
        const staff = req.staff as NonNullable<typeof req.staff>;
        if (decision === 'approve' && field(req, 'confirm') !== 'yes')
          throw new DomainError(
            'validation_failed',
            'Tick the box to confirm the erasure: it cannot be undone.',
            [{ field: 'confirm', message: 'required to approve' }],
          );
        await decideDeletion(ctx, ctx.mailer, ctx.jobs, originOf(req), {
          id: String(req.params.id),
          accountId: scope(staff.role, staff.accountId ?? null),
          decision,
          reason: field(req, 'reason') ?? null,
        });
        res.redirect(303, `/admin/data-requests?done=${decision === 'approve' ? 'erased' : 'declined'}`);
      },
    );
  }
  return r;
}
