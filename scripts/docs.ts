// npm run docs: writes docs/api.md from the route table.
import { writeFileSync } from 'node:fs';
import { apiRoutes } from '../server/api.ts';
import type { AppContext } from '../server/app.ts';
import { apiMarkdown } from '../server/http/api-markdown.ts';

// The declarations read ctx only inside handlers: an empty one is enough to list them.
writeFileSync(new URL('../docs/api.md', import.meta.url), apiMarkdown(apiRoutes({} as AppContext)));
console.log('wrote docs/api.md');
