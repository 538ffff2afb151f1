// An import job with its whole file uploaded, ready for runImportJob: the tests that drive the
// real import (fault drills, races, the feed) start from one.
import type { Knex } from 'knex';
import { createImportJob } from '../../server/imports/service.ts';

export async function uploadedImport(knex: Knex, csv: string, filename: string) {
  const job = await createImportJob(knex, {
    createdBy: null,
    accountId: null,
    defaultAccount: null,
    filename,
  });
  await job.append(Buffer.from(csv));
  return job;
}
