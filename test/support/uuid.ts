// What a version 7 uuid (RFC 9562) looks like, and the time it carries: for the tests that check
// the ids contacts are given (the column default and the import's).
export const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** The Unix milliseconds a version 7 uuid carries in its first 48 bits. */
export const millisOf = (id: string) => Number.parseInt(id.replace(/-/g, '').slice(0, 12), 16);
