// Path parameters the API reads in several places, checked once.
import { cleanEmail } from '../contacts/service.ts';
import { DomainError } from '../errors.ts';

/** The contact address in a URL (`/v1/contacts/{email}`), or a 400 naming it. */
export function emailFromPath(raw: unknown): string {
  const r = cleanEmail(raw);
  if (!r.ok)
    throw new DomainError('validation_failed', `The address in the URL is not valid: ${r.reason}.`, [
      { field: 'email', message: r.reason },
    ]);
  return r.email;
}
