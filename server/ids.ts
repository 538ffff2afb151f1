// Ids as they appear in URLs, webhooks and forms: checked before they reach a query, so a
// malformed one is a plain "not found" rather than a database type error.
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function isUuid(value: unknown): value is string {
  return typeof value === 'string' && UUID.test(value);
}
