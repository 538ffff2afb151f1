// The import part's door: the console's CSV import as a durable job (job.ts, which writes its
// rows in set-based batches, batch.ts) and the job's rows in the database (queries.ts).
export { IMPORT_COLUMNS, type ImportError, progressOf, runImportJob } from './job.ts';
export {
  createImportJob,
  importChecked,
  importJob,
  pruneCheckedUploads,
  recentImports,
  storedList,
  uploadKept,
} from './queries.ts';
